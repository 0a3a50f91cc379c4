# hub.extraConfig snippet: pass Keycloak tokens into user servers.
#
# Runs inside z2jh 4.2.0's jupyterhub_config.py (JupyterHub 5.3, oauthenticator 17.3),
# where `c` and `get_config` exist. It modernises the original notes' snippet:
# - `async def` instead of tornado's `gen.coroutine`;
# - tokens are never printed or logged (the original `print(auth_state)` wrote every
#   user's tokens into the hub log);
# - the refresh token is NOT put into the pod: with a confidential Keycloak client it is
#   useless without the client secret, and the secret must never reach user pods. The hub
#   keeps refreshing tokens itself (OAuthenticator.refresh_user), and the pod fetches the
#   current access token from the hub API (manifests/token_refresher.py).
import inspect
import time

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Integer


class KeycloakTokenAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator that hands the Keycloak access token to user servers
    and renews it before it expires, not only after."""

    token_refresh_margin = Integer(
        150,
        config=True,
        help="""Seconds before the access token expires at which refresh_user
        exchanges the refresh token for a new access token.

        oauthenticator 17.3's refresh_user only uses the refresh token once the
        userinfo request with the current access token fails, i.e. after expiry:
        a pod could then be handed a token that is already dead. For every token
        handed out to stay valid until the pod's next poll, this should be at least
        Authenticator.auth_refresh_age + the pod's KC_TOKEN_REFRESH_INTERVAL, and
        below Keycloak's access token lifespan (default 300 s). 0 disables.
        """,
    )

    def build_auth_state_dict(self, token_info, user_info):
        # Keycloak answers `expires_in` (relative). Stamp an absolute time into the stored
        # token response once, when the token is issued: refresh_user rebuilds auth_state
        # from the *stored* token_response while the token is still valid, and setdefault
        # keeps the original stamp then.
        expires_in = token_info.get("expires_in")
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            token_info.setdefault("expires_at", int(time.time() + expires_in))
        return super().build_auth_state_dict(token_info, user_info)

    def _expires_soon(self, auth_state):
        token_response = auth_state.get("token_response") or {}
        expires_at = token_response.get("expires_at")
        if not isinstance(expires_at, (int, float)):
            return False
        return expires_at - time.time() < self.token_refresh_margin

    async def refresh_user(self, user, handler=None, **kwargs):
        if (
            self.enable_auth_state
            and self.token_refresh_margin > 0
            and self.refresh_user_hook is None
            # private helper of oauthenticator >= 17.2 (checked in 17.3's oauth2.py);
            # without it, fall back to upstream behaviour
            and hasattr(self, "_token_to_auth_model")
        ):
            auth_state = await user.get_auth_state()
            refresh_token = (auth_state or {}).get("refresh_token")
            if refresh_token and self._expires_soon(auth_state):
                auth_model = await self._early_refresh(user, handler, refresh_token)
                if auth_model:
                    return auth_model
        # token still fresh, early refresh failed, or no refresh token: upstream logic
        # (userinfo with the current token, refresh token after a 4xx, else new login)
        return await super().refresh_user(user, handler, **kwargs)

    async def _early_refresh(self, user, handler, refresh_token):
        params = self.build_refresh_token_request_params(refresh_token)
        try:
            token_info = await self.get_token_info(handler, params)
            # Keycloak normally rotates the refresh token; keep the old one if not
            if not token_info.get("refresh_token"):
                token_info["refresh_token"] = refresh_token
            auth_model = await self._token_to_auth_model(token_info)
        except Exception as e:
            # log the exception type and HTTP status only: messages of token endpoint
            # errors can carry the response body
            self.log.info(
                "Early token refresh for %s failed (%s %s); trying the current token",
                user.name,
                type(e).__name__,
                getattr(e, "code", getattr(e, "status_code", "")),
            )
            return None
        self.log.debug("Refreshed access token for %s before expiry", user.name)
        return auth_model

    async def pre_spawn_start(self, user, spawner):
        """Put the current access token into the server's environment.

        refresh_pre_spawn (on by default in OAuthenticator when auth_state is enabled)
        has already run refresh_user, so the token is fresh at spawn time. It still
        expires after Keycloak's access token lifespan: long-running code should read
        the file kept current by token_refresher.py (~/.keycloak/access_token).
        """
        parent = super().pre_spawn_start(user, spawner)
        if inspect.isawaitable(parent):  # the base hook is sync, subclasses may not be
            await parent
        auth_state = await user.get_auth_state()
        if not auth_state:
            # auth_state disabled, or the user logged in before it was enabled
            return
        env = spawner.environment
        access_token = auth_state.get("access_token")
        if access_token:
            env["KC_ACCESS_TOKEN"] = access_token
        else:
            # don't keep a token from an earlier spawn of the same Spawner object
            env.pop("KC_ACCESS_TOKEN", None)
        expires_at = (auth_state.get("token_response") or {}).get("expires_at")
        if isinstance(expires_at, (int, float)):
            env["KC_ACCESS_TOKEN_EXPIRES_AT"] = str(int(expires_at))
        else:
            env.pop("KC_ACCESS_TOKEN_EXPIRES_AT", None)


c.JupyterHub.authenticator_class = KeycloakTokenAuthenticator
# Tokens only exist in the hub if auth_state is persisted (encrypted with CryptKeeper.keys,
# which z2jh generates and keeps in its Secret).
c.Authenticator.enable_auth_state = True
# Authenticator (jupyterhub/auth.py) traits; JupyterHub calls refresh_user on any request
# of a user (browser cookie or API token, e.g. the pod's poll) whose auth is older than
# auth_refresh_age. 0 would disable refreshing entirely, refresh_pre_spawn included.
# Only defaults here: values set in hub.config win.
if "auth_refresh_age" not in c.Authenticator:
    c.Authenticator.auth_refresh_age = 60
if "refresh_pre_spawn" not in c.Authenticator:
    c.Authenticator.refresh_pre_spawn = True
