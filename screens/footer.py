"""Textual's Footer, recomposed only when the keys it shows change.

Textual recomposes its Footer whenever the screen's bindings are updated, which happens on every
focus change and every screen change even when the same keys stay on show; each recompose mounts
and styles a widget per key. Subclassing keeps the look (its CSS matches `Footer`)."""

from __future__ import annotations

from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    _shown: tuple | None = None

    def bindings_changed(self, screen) -> None:
        shown = tuple((binding.key, binding.description, enabled, tooltip)
                      for (_node, binding, enabled, tooltip) in screen.active_bindings.values() if binding.show)
        if shown == self._shown and self._bindings_ready:
            return
        self._shown = shown
        super().bindings_changed(screen)
