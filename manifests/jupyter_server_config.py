# Jupyter Server configuration for user servers, including Voilà's.
#
# Mounted into user pods. Prefer /usr/local/etc/jupyter/jupyter_server_config.py (a
# system config dir that images rarely populate) over /etc/jupyter/, where an
# image may ship its own file that a mount would hide. Loaded by every jupyter-server
# based app (JupyterLab, Notebook 7, Voilà as a server extension or standalone).
#
# Only plain values on traitlets config sections, no imports: when Voilà is not
# installed, the VoilaConfiguration section is simply never read, so nothing breaks.
# Trait names checked against voila/configuration.py (Voilà 0.5).
c = get_config()  # noqa: F821 (injected by the traitlets config loader)

# Dashboards show outputs, not code: keep sources out of the rendered page.
c.VoilaConfiguration.strip_sources = True

# Tracebacks can show paths, environment values or secrets in cell code to whoever views
# a (possibly shared) dashboard; the user still sees them in JupyterLab.
c.VoilaConfiguration.show_tracebacks = False

# Static files Voilà may serve next to a notebook: images only (its default plus a few
# common formats). Everything else needs an explicit allowlist entry by the repo author.
c.VoilaConfiguration.file_allowlist = [r".*\.(png|jpg|jpeg|gif|svg|webp)"]

# Never serve notebooks/sources (Voilà's default) and never anything under a dot path:
# ~/.keycloak/access_token (token_refresher.py) and other credentials live there.
c.VoilaConfiguration.file_denylist = [r".*\.(ipynb|py)", r"(^|.*/)\..*"]

# A heartbeat every 10 s keeps long-running cells from hitting proxy idle timeouts
# (ingress-nginx/traefik defaults are 60 s); this is Voilà's default, stated on purpose.
c.VoilaConfiguration.http_keep_alive_timeout = 10

# Voilà's JupyterLab-based page, same look as the lab the user works in.
c.VoilaConfiguration.template = "lab"
