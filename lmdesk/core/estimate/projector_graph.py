"""The vision tower's compute buffer: ggml's graph allocator replayed over clip's graph.

libmtmd reserves its compute buffer with ``ggml_backend_sched_reserve`` on the graph of one
warm-up image. ggml-alloc walks the graph in order: a node takes the best-fitting free block
(else the end of the buffer grows), an in-place op (add, mul, gelu, ...) reuses its parent
when it is the parent's last consumer, views take no memory, and a tensor is freed after its
last consumer ran. The buffer is the highest address reached. This module replays that walk
over the ViT + MLP graph clip builds for LLaVA-style projectors (``models/llava.cpp``, with
flash attention and f16 patch columns), which puts it within 1 % of libmtmd's log on the
test projectors; other projector types build other graphs, for which it is an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

F32, F16, I32 = 4, 2, 4


@dataclass(eq=False)
class Node:
    """One graph node: its bytes, its inputs, and whether it may reuse an input's memory."""

    size: int
    srcs: tuple[Node, ...] = ()
    inplace: bool = False
    view_of: Node | None = None
    leaf: bool = False  # a graph input (the image, positions): allocated before the walk
    children: int = field(default=0, repr=False)
    views: int = field(default=0, repr=False)


class _Allocator:
    """ggml_dyn_tallocr: best fit among the free blocks, else the unbounded last one."""

    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.free: list[list[int]] = [[0, 1 << 62]]  # [offset, size], sorted by offset
        self.peak = 0

    def alloc(self, size: int) -> tuple[int, int]:
        size = -(-size // self.alignment) * self.alignment
        best, best_size = len(self.free) - 1, 1 << 63
        for i, (_, free_size) in enumerate(self.free[:-1]):
            if size <= free_size <= best_size:
                best, best_size = i, free_size
        offset, free_size = self.free[best]
        if free_size == size:
            self.free.pop(best)
        else:
            self.free[best] = [offset + size, free_size - size]
        self.peak = max(self.peak, offset + size)
        return offset, size

    def release(self, offset: int, size: int) -> None:
        for i, (free_offset, free_size) in enumerate(self.free):
            if free_offset + free_size == offset:
                self.free[i][1] += size
                if i + 1 < len(self.free) and self.free[i + 1][0] == offset + size:
                    self.free[i][1] += self.free.pop(i + 1)[1]
                return
            if offset + size == free_offset:
                self.free[i] = [offset, free_size + size]
                return
            if free_offset > offset:
                self.free.insert(i, [offset, size])
                return
        self.free.append([offset, size])


def peak_bytes(nodes: list[Node], alignment: int) -> int:
    """The compute buffer ggml-alloc reserves for ``nodes`` (in graph order)."""
    for node in nodes:
        for src in node.srcs:
            src.children += 1
        if node.view_of is not None:
            node.view_of.views += 1
    allocator = _Allocator(alignment)
    placed: dict[int, tuple[int, int]] = {}
    for node in nodes:
        if node.leaf:
            placed[id(node)] = allocator.alloc(node.size)
    for node in nodes:
        if node.leaf:
            continue
        if node.view_of is None and not _reuse(node, placed):
            placed[id(node)] = allocator.alloc(node.size)
        for src in node.srcs:
            src.children -= 1
            if src.children or src.views:
                continue
            owner = src.view_of if src.view_of is not None else src
            if src.view_of is not None:
                owner.views -= 1
                if owner.views or owner.children:
                    continue
            if id(owner) in placed:
                allocator.release(*placed.pop(id(owner)))
    return allocator.peak


def _reuse(node: Node, placed: dict[int, tuple[int, int]]) -> bool:
    if not node.inplace:
        return False
    for src in node.srcs:
        if id(src) not in placed or src.size != node.size:
            continue
        if src.children == 1 and src.views == 0:
            placed[id(node)] = placed.pop(id(src))
            return True
    return False


def llava_graph(
    *, image: int, patch: int, n_embd: int, n_ff: int, projection_dim: int, n_layer: int
) -> list[Node]:
    """clip's graph for one ``image``-sized picture through a LLaVA-style ViT + MLP."""
    side = image // patch
    n_patches = side * side
    n_pos = n_patches + 1  # the class embedding
    row = n_pos * n_embd * F32
    nodes: list[Node] = []
    weight = Node(0)  # weights live in their own buffer

    def add(size: int, *srcs: Node, inplace: bool = False) -> Node:
        node = Node(size, srcs, inplace)
        nodes.append(node)
        return node

    def view(of: Node) -> Node:
        node = Node(0, (of,), view_of=of if of.view_of is None else of.view_of)
        nodes.append(node)
        return node

    def norm(x: Node) -> Node:
        y = add(row, x)
        y = add(row, y, weight, inplace=True)
        return add(row, y, weight, inplace=True)

    picture = Node(image * image * 3 * F32, leaf=True)
    positions = Node(n_pos * I32, leaf=True)
    patches = Node(n_patches * I32, leaf=True)
    nodes += [picture, positions, patches]
    columns = add(n_patches * 3 * patch * patch * F16, weight, picture)  # im2col
    conv = add(n_patches * n_embd * F32, view(columns), weight)
    x = add(n_patches * n_embd * F32, view(view(conv)))  # conv_2d's cont(permute)
    x = add(n_patches * n_embd * F32, view(view(x)))  # build_inp's cont(transpose)
    x = add(row, x, weight)  # concat the class embedding
    x = add(row, x, add(row, weight, positions), inplace=True)
    x = norm(x)
    for _ in range(max(n_layer - 1, 0)):  # llava stops one layer short of the tower's end
        normed = norm(x)
        qkv = []
        for _name in "qkv":
            t = add(row, weight, normed)
            qkv.append(add(row, t, weight, inplace=True))
        q, k, v = (view(view(t)) for t in qkv)
        k16 = add(row // 2, k)
        v16 = add(row // 2, v)
        attn = add(row, q, k16, v16)  # flash attention
        out = add(row, weight, view(attn))
        out = add(row, out, weight, inplace=True)
        x = add(row, out, x, inplace=True)
        normed = norm(x)
        up = add(n_pos * n_ff * F32, weight, normed)
        up = add(n_pos * n_ff * F32, up, weight, inplace=True)
        up = add(n_pos * n_ff * F32, up, inplace=True)  # gelu
        down = add(row, weight, up)
        down = add(row, down, weight, inplace=True)
        x = add(row, x, down, inplace=True)
    embeddings = add(n_patches * n_embd * F32, view(x), patches)  # drop the class token
    projected = n_patches * projection_dim * F32
    e = add(projected, weight, embeddings)
    e = add(projected, e, weight, inplace=True)
    e = add(projected, e, inplace=True)  # gelu
    e = add(projected, weight, e)
    add(projected, e, weight, inplace=True)
    return nodes
