"""The model tree: sections, layers, modules and parameters, each row with its freeze state.

Rows are drawn at render time from the node's ``TreeEntry`` and the current plan, so a toggle
only repaints: the affected rows (the node, its ancestors and, through the tree's line cache
key, its descendants) are marked stale and the visible lines redrawn. Nothing is rebuilt.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from yolofreeze.core.checkpoint.tree import ModelTree, TreeEntry
from yolofreeze.core.plan.freeze import FreezePlan
from yolofreeze.tui.format import human_bytes, human_count, safe_text

# Symbol + word, so the state reads without colour (NO_COLOR, 16-colour terminals, screenshots).
STATE_SYMBOL = {"frozen": "■", "trainable": "□", "mixed": "◧", "none": "·"}
STATE_WORD = {"frozen": "frozen", "trainable": "train", "mixed": "mixed", "none": "-"}
STATE_STYLE = {"frozen": "bold cyan", "trainable": "green", "mixed": "bold yellow", "none": "dim"}
_FREEZE_META = Style.from_meta({"freeze": True})
_TOGGLE_META = Style.from_meta({"toggle": True})
ROW_COLUMNS = 7 + 7 + 10 + 10  # count, share, state word, size: the cells beside a row's name
_DTYPE_SHORT = {"float16": "f16", "float32": "f32", "bfloat16": "bf16", "float64": "f64"}


class LayerTree(Tree[str]):
    """Node data is the ``TreeEntry`` key; the screen owns the plan and hands it down."""

    COMPONENT_CLASSES: ClassVar[set[str]] = Tree.COMPONENT_CLASSES | {"layer-tree--range"}
    DEFAULT_CSS = """
    LayerTree > .layer-tree--range { background: $accent 25%; }
    """

    HELP_SECTION = "Tree"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "screen.toggle_freeze", "Freeze", tooltip="Freeze / unfreeze the row or range"),
        Binding("v", "mark_range", "Range", tooltip="Mark a range start; space then applies to the range"),
        Binding("shift+up", "extend_range(-1)", "Extend range up", show=False),
        Binding("shift+down", "extend_range(1)", "Extend range down", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("right,l", "expand", "Expand", show=False),
        Binding("left,h", "collapse", "Collapse / parent", show=False),
        Binding("x", "expand_all", "Expand all", show=False),
        Binding("enter", "select_cursor", "Expand", show=False),
        Binding("up", "cursor_up", "Cursor Up", show=False),
        Binding("down", "cursor_down", "Cursor Down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, model: ModelTree, plan: FreezePlan, *, id: str | None = None) -> None:
        super().__init__("model", id=id)
        self.model = model
        self.plan = plan
        self.range_start: str | None = None  # key of the row where a marked range starts
        self._by_key: dict[str, TreeNode[str]] = {}
        self._depth: dict[int, int] = {}
        self._range_cache: tuple[int, set[str]] = (-1, set())
        self.show_root = False
        self.guide_depth = 2
        self.populate()

    # -- building ----------------------------------------------------------------------------

    def populate(self, visible: set[str] | None = None, expand: bool = False) -> None:
        """(Re)build the nodes; ``visible`` limits them to a filter's matches (expanded)."""
        self.clear()
        self._by_key.clear()
        self._depth.clear()
        self.range_start = None
        stack: list[tuple[TreeNode[str], str, int]] = [(self.root, k, 0) for k in reversed(self.model.roots)]
        while stack:
            parent, key, depth = stack.pop()
            if visible is not None and key not in visible:
                continue
            entry = self.model.entries[key]
            node = parent.add(
                # a Text label: a str would be parsed as Rich markup (a module named "[/]" from
                # the file would raise, "[link=…]" would become a link); rows are drawn by row_text
                Text(safe_text(entry.title)),
                data=key,
                expand=expand or entry.kind == "section",
                allow_expand=bool(entry.children),
            )
            self._by_key[key] = node
            self._depth[node.id] = depth
            stack.extend((node, k, depth + 1) for k in reversed(entry.children))
        self.root.expand()

    # -- plan --------------------------------------------------------------------------------

    def show_plan(self, plan: FreezePlan, changed: list[str] | None = None) -> None:
        """Repaint for a new plan: with ``changed``, only the visible rows of those nodes, their
        ancestors and their descendants are redrawn; every other row keeps its cached line."""
        self.plan = plan
        if changed is None:
            self._repaint_all()
            return
        affected: set[str] = set()
        for entry in self.model.walk(tuple(changed)):
            affected.add(entry.key)
        for key in changed:
            affected.update(self.model.ancestors(key))
        top = int(self.scroll_offset.y)
        lines = self._tree_lines[top : top + self.size.height]
        stale_y = {y for y, line in enumerate(lines, top) if line.node.data in affected}
        # Tree keys its line cache on every node of a line's path, so bumping an ancestor would
        # redraw all rows under it; dropping just these lines' entries redraws only them.
        for cache_key in [k for k in self._line_cache.keys() if k[0] in stale_y]:  # noqa: SIM118 (not a dict)
            self._line_cache.discard(cache_key)
        for y in stale_y:
            self._refresh_line(y)

    # -- selection ---------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def range_keys(self) -> list[str]:
        """Keys of the rows from the range start to the cursor (just the cursor without one)."""
        cursor = self.cursor_line
        if cursor < 0:
            return []
        anchor_node = self._by_key.get(self.range_start) if self.range_start else None
        lines = self._tree_lines
        if anchor_node is None or anchor_node.line < 0:
            node = self.cursor_node
            return [node.data] if node is not None and node.data is not None else []
        lo, hi = sorted((anchor_node.line, cursor))
        return [ln.node.data for ln in lines[lo : hi + 1] if ln.node.data is not None]

    def action_mark_range(self) -> None:
        self.range_start = None if self.range_start is not None else self.cursor_key
        self._repaint_all()

    def action_extend_range(self, step: int) -> None:
        if self.range_start is None:
            self.range_start = self.cursor_key
        self.cursor_line = max(0, min(self.last_line, self.cursor_line + step))
        self.scroll_to_line(self.cursor_line, animate=False)
        self._repaint_all()

    def clear_range(self) -> bool:
        if self.range_start is None:
            return False
        self.range_start = None
        self._repaint_all()
        return True

    def watch_cursor_line(self, previous_line: int, line: int) -> None:
        super().watch_cursor_line(previous_line, line)
        if self.range_start is not None:
            self._repaint_all()

    def _repaint_all(self) -> None:
        self._updates += 1
        self.refresh()

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()
        elif node is not None and node.children:
            self.move_cursor(node.children[0])

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def action_expand_all(self) -> None:
        """Expand every node, or collapse back to the sections when all is open already."""
        nodes = list(self._by_key.values())
        if all(n.is_expanded for n in nodes if n.allow_expand):
            for n in nodes:
                if self.model.entries[n.data or ""].kind != "section":
                    n.collapse()
        else:
            for n in nodes:
                if n.allow_expand:
                    n.expand()

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        # The cursor's row opened at the bottom of the view: bring its children up into view,
        # keeping the row itself on screen.
        node = event.node
        if node is self.cursor_node and node.children:
            self.call_after_refresh(self._show_children, node)

    def _show_children(self, node: TreeNode[str]) -> None:
        if node.line < 0:
            return
        last = node.line + len(node.children)
        self.scroll_to_line(min(last, self.last_line), animate=False)
        self.scroll_to_line(node.line, animate=False)

    def node_for(self, key: str) -> TreeNode[str] | None:
        return self._by_key.get(key)

    # -- drawing -----------------------------------------------------------------------------

    def get_label_width(self, node: TreeNode[str]) -> int:
        return 0  # rows fill the width at render time: no horizontal scrolling, cheap _build

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        key = node.data
        if key is None:
            return Text()
        entry = self.model.entries[key]
        depth = self._depth.get(node.id, 0)
        width = self.scrollable_content_region.width - depth * self.guide_depth
        in_range = self.range_start is not None and key in self._range_set()
        return self.row_text(entry, node, width, style, in_range)

    def _range_set(self) -> set[str]:
        # Every range change bumps _updates, so one set serves all rows of a repaint.
        if self._range_cache[0] != self._updates:
            self._range_cache = (self._updates, set(self.range_keys()))
        return self._range_cache[1]

    def row_text(self, entry: TreeEntry, node: TreeNode[str], width: int, style: Style, in_range: bool) -> Text:
        plan = self.plan
        # Concat, Upsample: nothing to freeze, so neither frozen nor trainable.
        state = plan.state_of(entry.parameters) if entry.parameters else "none"
        icon = ("▼ " if node.is_expanded else "▶ ") if node.allow_expand else "  "
        word = STATE_WORD[state]
        if state == "mixed" and entry.numel:
            # Floor and clamp: "mixed 100%" or "mixed 0%" would read as a whole state.
            part = self.model.frozen_numel(entry.key, plan.frozen) / entry.numel
            word = f"mixed {min(max(int(100 * part), 1), 99)}%"
        count = human_count(entry.numel)
        size = human_bytes(entry.nbytes)
        share = f"{100 * self.model.share(entry.key):.1f}%"
        # Columns drop from the right end of the importance list as the row narrows.
        cols: list[tuple[str, int]] = [(count, 7), (share, 7), (word, 10), (size, 10)]  # ROW_COLUMNS in all
        name_min = 14
        while cols and width - 4 - sum(w for _, w in cols) < name_min:
            cols.pop()
        order = [c for c in ((count, 7), (size, 10), (share, 7), (word, 10)) if c in cols]
        name_width = max(width - 4 - sum(w for _, w in order), 1)

        text = Text(style=style, no_wrap=True, overflow="ellipsis")
        text.append(icon, _TOGGLE_META)
        marker = "▌" if in_range else " "
        text.append(STATE_SYMBOL[state], Style.parse(STATE_STYLE[state]) + _FREEZE_META)
        text.append(marker, "bold magenta" if in_range else "")
        text.append_text(self._name_text(entry, name_width))
        for value, w in order:
            cell = value.rjust(w)
            if value is word:
                text.append(cell, STATE_STYLE[state])
            else:
                text.append(cell, "dim" if value is size else "")
        if in_range and style.bgcolor is None:
            text.stylize(self.get_component_rich_style("layer-tree--range", partial=True))
        return text

    def wanted_width(self) -> int:
        """Cells the sections' and layers' rows need with every column and no name cut
        ("BACKBONE layers 0-9", "Detect ←17,20,23"): the screen gives the tree this much when it can."""
        entries = self.model.entries.values()
        rows = [(e, 0 if e.kind == "section" else 1) for e in entries if e.kind in ("section", "layer")]
        name = max((self._name_parts(e).cell_len + depth * self.guide_depth for e, depth in rows), default=20)
        return name + 4 + ROW_COLUMNS

    def _name_text(self, entry: TreeEntry, width: int) -> Text:
        out = self._name_parts(entry)
        out.truncate(width, overflow="ellipsis", pad=True)
        return out

    def _name_parts(self, entry: TreeEntry) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        if entry.kind == "section":
            out.append(safe_text(entry.title.upper()), "bold")
            out.append(f" layers {safe_text(entry.type)}", "dim")
        elif entry.kind == "layer":
            assert entry.layer is not None
            out.append(f"{safe_text(entry.title):>2} ", "bold")
            out.append(safe_text(entry.type), "bold")
            if entry.layer.from_ and entry.layer.from_ != (-1,):
                out.append(" ←" + ",".join(map(str, entry.layer.from_)), "dim")
            if entry.layer.repeats > 1:
                out.append(f" ×{entry.layer.repeats}", "dim")  # noqa: RUF001
        elif entry.kind == "module":
            # module names, class names and dtypes come from the file: escaped, never markup
            out.append(safe_text(entry.title))
            if entry.type:
                out.append(f" {safe_text(entry.type)}", "dim")
        else:
            assert entry.tensor is not None
            t = entry.tensor
            out.append(safe_text(entry.title), "italic")
            shape = "×".join(map(str, t.shape))  # noqa: RUF001
            out.append(f" {shape} {safe_text(_DTYPE_SHORT.get(t.dtype, t.dtype))}", "dim")
        return out

    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        if meta.get("freeze") and "line" in meta:
            event.prevent_default()
            self.cursor_line = meta["line"]
            await self.run_action("screen.toggle_freeze")
