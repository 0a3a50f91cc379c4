"""Upgrade and reconfigure: what a run would change, and the way back from a failed upgrade.

- `record_release` is called by the plan's helm step (wizard/stages.py) just before
  `helm upgrade --install`: it notes the release, its chart and values, and (in a real run) the
  live revision, so that
- `rollback_failed_upgrade` (called by the engine when a stage fails) can `helm rollback` a
  release whose checks failed after an upgrade to the revision recorded before it, and say so;
- `changes` (called by the session's preview, after its dry run) compares, per release the run
  would upgrade, what `helm template` renders with the new values and chart against
  `helm get manifest` of the live release, object by object, Secret data masked; plus the diff of
  the rendered files (secret.yaml by key only) and the known breaking changes the upgrade crosses
  (wizard/breaking.py). `format_changes` is the one text both faces (CLI, TUI review) show.

Light at import: no kubernetes, no Textual.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import breaking
from .installdir import ANSWERS_FILE, SECRET_FILE, read_private
from .redact import MASK

if TYPE_CHECKING:
    from .context import Context

RELEASES = "releases"           # ctx.facts key: stage -> Release
NO_AUTO_ROLLBACK = "no-auto-rollback"  # ctx.facts key: a run that must not roll back (wizard rollback's re-apply)


@dataclass(frozen=True)
class Release:
    stage: str
    key: str                         # chart key (wizard/charts.py)
    name: str
    namespace: str
    values: tuple[str, ...]          # values files, full paths
    chart_args: tuple[str, ...]      # helm arguments naming the chart (and its --repo/--version)
    revision: int | None = None      # the live, deployed revision before the upgrade (None: none)
    chart: str = ""                  # the live chart's name and version
    version: str = ""


def live_release(ctx: "Context", stage: str, name: str, namespace: str) -> dict | None:
    """`helm get metadata` of the release (name, chart, version, revision, status), or None."""
    done = ctx.runner.run(stage, ctx.helm("get", "metadata", name, "--namespace", namespace, "-o", "json"),
                          mutating=False, check=False)
    if not done.ok:
        return None
    try:
        return json.loads(done.output)
    except ValueError:
        return None


def record_release(ctx: "Context", stage: str, key: str, name: str, namespace: str, values: list[str],
                   chart_args: list[str]) -> None:
    """Before `helm upgrade --install`: note the release and, in a real run, its live revision (the
    one to roll back to). A dry run asks the cluster nothing here (`changes` asks once it ended)."""
    revision = chart = version = None
    if not ctx.runner.dry_run:
        live = live_release(ctx, stage, name, namespace)
        if live and live.get("status") == "deployed":
            revision, chart, version = int(live["revision"]), live.get("chart", ""), live.get("version", "")
    ctx.facts.setdefault(RELEASES, {})[stage] = Release(
        stage, key, name, namespace, tuple(ctx.file(v) for v in values), tuple(chart_args), revision,
        chart or "", version or "")


def rollback_failed_upgrade(ctx: "Context", stage: str, err: Exception) -> Exception:
    """A stage's checks failed after its release was upgraded: roll it back to the revision recorded
    before, and return the error with what was done; any other failure comes back as it was."""
    from .context import CheckFailed, PreflightRefused

    release: Release | None = ctx.facts.get(RELEASES, {}).get(stage)
    if (not isinstance(err, CheckFailed) or isinstance(err, PreflightRefused) or release is None
            or release.revision is None or ctx.runner.dry_run or ctx.facts.get(NO_AUTO_ROLLBACK)):
        return err
    try:
        return _roll_back(ctx, stage, release, err)
    except Exception as failure:  # noqa: BLE001 - the check's failure stays the news; this is logged
        ctx.runner.log(stage, f"rolling back {release.name} failed: {failure.__class__.__name__}: {failure}")
        return err


def _roll_back(ctx: "Context", stage: str, release: Release, err) -> Exception:
    from .context import CheckFailed

    live = live_release(ctx, stage, release.name, release.namespace)
    if not live or int(live.get("revision", 0)) <= release.revision:
        return err  # the upgrade never made a revision: nothing to undo
    ctx.notify(stage, f"the checks failed after upgrading release {release.name}: rolling it back to "
                      f"revision {release.revision}")
    done = ctx.runner.run(stage, ctx.helm("rollback", release.name, str(release.revision),
                                          "--namespace", release.namespace), check=False)
    if done.ok:
        what = (f"release {release.name} was upgraded (revision {live['revision']}) and its checks failed, so it "
                f"was rolled back to revision {release.revision} (`helm history {release.name} -n "
                f"{release.namespace}` shows it)")
    else:
        what = (f"release {release.name} was upgraded and its checks failed; rolling back to revision "
                f"{release.revision} failed too (see install.log): run `helm rollback {release.name} "
                f"{release.revision} -n {release.namespace}`")
    return CheckFailed(err.check, f"{err.problem}; {what}",
                       err.next_step or "fix the cause, then run the same command again")


# --- what will change -------------------------------------------------------------------------------

@dataclass
class ReleaseDiff:
    stage: str
    release: str
    namespace: str
    old_chart: str = ""              # "traefik 37.4.0"; empty: not installed yet
    new_chart: str = ""
    added: list[str] = field(default_factory=list)      # objects, "Kind namespace/name"
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)   # object -> unified diff lines
    breaking: list[breaking.Breaking] = field(default_factory=list)
    note: str = ""                   # why no object diff (not installed, the cluster not reachable, ...)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed) and not self.note and self.old_chart == self.new_chart


@dataclass
class Changes:
    files: dict[str, list[str]] = field(default_factory=dict)    # rendered file -> unified diff lines
    releases: list[ReleaseDiff] = field(default_factory=list)

    @property
    def breaking(self) -> list[breaking.Breaking]:
        return [b for r in self.releases for b in r.breaking]

    def __bool__(self) -> bool:
        return bool(self.files) or any(not r.unchanged for r in self.releases)


def _secret_keys(path: Path) -> dict[str, str]:
    from .secretstore import read_stored

    try:
        return read_stored(path.parent) if path.exists() else {}
    except Exception:  # noqa: BLE001 - an unreadable secret.yaml is shown as such, never its content
        return {"(unreadable)": ""}


def file_diffs(old_dir: Path, new_dir: Path, names, mask) -> dict[str, list[str]]:
    """The rendered files that differ between DIR and the new render; secret.yaml by key only."""
    out: dict[str, list[str]] = {}
    for name in names:
        old, new = old_dir / name, new_dir / name
        if not old.exists():
            continue  # a new file: listed by the preview's files, not diffed line by line
        if name == SECRET_FILE:
            before, after = _secret_keys(old), _secret_keys(new)
            lines = [f"  {key}: {'added' if key not in before else 'removed' if key not in after else 'changed'} "
                     f"(value not shown)" for key in sorted(set(before) | set(after))
                     if before.get(key) != after.get(key)]
            if not lines and (not new.exists() or read_private(old) != read_private(new)):
                lines = ["  changed (values not shown)"]
        else:
            try:
                before_text = read_private(old).decode("utf-8", "replace")
                after_text = read_private(new).decode("utf-8", "replace") if new.exists() else ""
            except OSError:
                continue
            if before_text == after_text:
                continue
            lines = [mask(line.rstrip("\n")) for line in difflib.unified_diff(
                before_text.splitlines(), after_text.splitlines(), f"{name} (now)", f"{name} (new)", lineterm="")]
        if lines:
            out[name] = lines
    return out


def _objects(text: str, namespace: str) -> dict[str, dict]:
    import yaml

    # Not yamlio's strict loader: a chart may render a key twice (traefik 37.4.0 does `type` when
    # service.spec holds it too), which the API server took, the last one winning, as here.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found = {}
    for doc in yaml.load_all(text, Loader=loader):
        if not isinstance(doc, dict) or "kind" not in doc:
            continue
        meta = doc.get("metadata") or {}
        found[f"{doc['kind']} {meta.get('namespace') or namespace}/{meta.get('name', '')}"] = doc
    return found


def _mask_secret(obj: dict, other: dict | None) -> dict:
    """A Secret with every value of data and stringData masked; `(changed)` where it differs from
    the same key of `other` (the object on the other side of the diff)."""
    if obj.get("kind") != "Secret":
        return obj
    masked = dict(obj)
    for part in ("data", "stringData"):
        values = obj.get(part)
        if isinstance(values, dict):
            theirs = (other or {}).get(part) or {}
            masked[part] = {key: MASK if other is None or theirs.get(key) == value else f"{MASK} (changed)"
                            for key, value in values.items()}
    return masked


def object_diff(old_text: str, new_text: str, namespace: str, mask) -> tuple[list[str], list[str], dict]:
    """(added, removed, changed) between two manifests: objects by kind, namespace and name."""
    from .yamlio import dumps

    old, new = _objects(old_text, namespace), _objects(new_text, namespace)
    changed = {}
    for key in sorted(set(old) & set(new)):
        if old[key] == new[key]:
            continue
        before = dumps(_mask_secret(old[key], old[key]))
        after = dumps(_mask_secret(new[key], old[key]))
        lines = [mask(line) for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                              "live", "new", lineterm="")]
        if lines:
            changed[key] = lines
    return sorted(set(new) - set(old)), sorted(set(old) - set(new)), changed


def _new_chart(ctx: "Context", release: Release) -> tuple[str, str]:
    from .charts import CHARTS, chart_ref

    answers = ctx.settings.answers
    ref = chart_ref(release.key, answers.get("versions", {}), answers.get("charts", {}))
    if ref.kind != "local":
        return ref.chart.chart, ref.version
    from .yamlio import loads

    done = ctx.runner.run(release.stage, ctx.helm("show", "chart", release.chart_args[0]), mutating=False, check=False)
    meta = loads(done.output) if done.ok else {}
    return (meta or {}).get("name", CHARTS[release.key].chart), str((meta or {}).get("version", "?"))


def release_diff(ctx: "Context", release: Release) -> ReleaseDiff:
    """The objects `helm template` renders now against `helm get manifest` of the live release.
    Both outputs hold Secrets: they are read with hide_output, never logged."""
    chart, version = _new_chart(ctx, release)
    out = ReleaseDiff(release.stage, release.name, release.namespace, new_chart=f"{chart} {version}")
    live = live_release(ctx, release.stage, release.name, release.namespace)
    if live is None:
        out.note = "not installed yet: every object is new"
        return out
    out.old_chart = f"{live.get('chart', '')} {live.get('version', '')}"
    out.breaking = breaking.applicable(live.get("chart", ""), live.get("version", ""), chart, version)
    manifest = ctx.runner.run(release.stage, ctx.helm("get", "manifest", release.name, "--namespace",
                                                      release.namespace), mutating=False, check=False,
                              hide_output=True)
    values = [a for v in release.values for a in ("-f", v)]
    # --validate: the cluster's own API versions and kube version (as the upgrade will see them);
    # --dry-run=server: `lookup` reads the cluster, so a chart that keeps a generated secret (z2jh's
    # cookie_secret) renders the live one, not a new one that would show as a change; --is-upgrade:
    # objects of the release that exist are not a conflict. No hooks: the live manifest has none.
    rendered = ctx.runner.run(release.stage, ctx.helm("template", release.name, *release.chart_args, "--namespace",
                                                      release.namespace, "--validate", "--dry-run=server",
                                                      "--is-upgrade",
                                                      "--no-hooks", *values), mutating=False, check=False,
                              hide_output=True)
    if not manifest.ok or not rendered.ok:
        failed = rendered if manifest.ok else manifest
        out.note = f"objects not compared: `helm {failed.argv[1]}` exited with {failed.exit_code}: " + \
            ctx.runner.mask(failed.tail(2)).replace("\n", " ")
        return out
    out.added, out.removed, out.changed = object_diff(manifest.output, rendered.output, release.namespace,
                                                      ctx.runner.mask)
    return out


def changes(ctx: "Context", old_dir: Path, new_dir: Path, changed_files, reachable: bool) -> Changes:
    """What a run would change, after its dry run in `new_dir` (a scratch render) recorded the
    releases it would upgrade."""
    # The rendered files, not answers.yaml: its effect is in them, and the TUI keeps answers that
    # do not apply (an external registry's storage size) which the render drops.
    names = [name for name in changed_files if name != ANSWERS_FILE]
    result = Changes(files=file_diffs(old_dir, new_dir, names, ctx.runner.mask))
    if not reachable:
        return result  # no live release to compare with (the preview says preflight refused)
    releases: dict[str, Release] = ctx.facts.get(RELEASES, {})
    for stage in sorted(releases):
        result.releases.append(release_diff(ctx, releases[stage]))
    return result


def format_changes(found: Changes, *, limit: int = 400) -> list[str]:
    """The text of what will change: the same for `wizard install`/`upgrade` and the TUI review."""
    lines: list[str] = []
    if found.files:
        lines.append("Rendered files that change:")
        for name, diff in found.files.items():
            lines.append(f"  {name}")
            lines += [f"    {line}" for line in diff]
    for diff in found.releases:
        head = f"Release {diff.release} ({diff.namespace}), stage {diff.stage}: "
        if diff.note:
            lines.append(head + (f"{diff.old_chart} -> {diff.new_chart}; " if diff.old_chart else
                                 f"{diff.new_chart}; ") + diff.note)
            continue
        if diff.unchanged:
            lines.append(head + f"{diff.new_chart}, no object changes")
            continue
        chart = f"chart {diff.old_chart} -> {diff.new_chart}" if diff.old_chart != diff.new_chart else diff.new_chart
        lines.append(head + f"{chart}; {len(diff.changed)} changed, {len(diff.added)} added, "
                            f"{len(diff.removed)} removed (Secret data masked)")
        lines += [f"  + {name}" for name in diff.added] + [f"  - {name}" for name in diff.removed]
        for name, body in diff.changed.items():
            lines.append(f"  ~ {name}")
            lines += [f"      {line}" for line in body]
    if found.breaking:
        lines.append("Known breaking changes this upgrade crosses, and what the wizard does:")
        lines += [f"  ! {change.line()}" for change in found.breaking]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... {len(lines) - limit} more line(s)"]
    return lines
