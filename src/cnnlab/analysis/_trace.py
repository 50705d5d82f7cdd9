"""Dispatch-level tracing: every torch function a forward pass calls, with tensor identities.

A :class:`torch.overrides.TorchFunctionMode` sees each call of ``F.conv2d``, ``torch.cat``, ``x + y``,
``F.pad``... made anywhere in the forward pass (inside modules or in their ``forward`` code), and module
hooks say which module call it belongs to. Tensors are matched by identity, so receptive fields follow the
real graph, along every branch, whatever order the modules were registered in. Python control flow and
shape arithmetic (``math.ceil(x.shape[-1] / 2)``) simply run, unlike with symbolic tracing.

By default the pass runs on the ``meta`` device through :func:`torch.func.functional_call` with meta copies
of the parameters and buffers: nothing is computed or allocated and the user's model is not changed (batch
norm statistics stay as they were).

With ``extents=True`` the tracer also follows, per unit of every feature map and per spatial dimension, the
exact first and last input row (column) the unit depends on: the receptive field clipped to the image as the
network really reads it, where padding, floor rounding and dilation gaps make the border units see less than
the field's arithmetic says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from cnnlab.analysis import _fields as rfm
from cnnlab.analysis._fields import GLOBAL, NONE, ReceptiveField, _pair

CONV = {"conv1d", "conv2d", "conv3d"}
CONV_T = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
FC = {"linear", "matmul", "mm", "bmm", "addmm", "einsum"}
POOL = {"max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "lp_pool2d"}
ADAPTIVE = {"adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"}
ELEMENTWISE = {
    "add", "sub", "rsub", "mul", "div", "neg", "pow", "exp", "log", "abs", "sqrt", "rsqrt", "clamp", "clip",
    "relu", "relu6", "hardtanh", "sigmoid", "tanh", "gelu", "silu", "hardswish", "hardsigmoid", "elu", "selu",
    "celu", "leaky_relu", "softplus", "mish", "prelu", "rrelu", "threshold", "dropout", "dropout2d",
    "dropout1d", "alpha_dropout", "feature_alpha_dropout", "batch_norm", "group_norm", "instance_norm",
    "local_response_norm", "where", "maximum", "minimum", "erf", "square", "reciprocal", "sign",
}
IDENTITY = {"to", "contiguous", "clone", "detach", "float", "half", "double", "bfloat16", "type", "type_as",
            "cpu", "cuda", "requires_grad_", "__get__", "alias"}
SHAPE = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "expand",
         "expand_as", "repeat", "getitem", "chunk", "split", "unbind", "view_as", "reshape_as", "t"}
FACTORY = {"zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "new_zeros",
           "new_ones", "new_empty", "new_full", "arange", "tensor", "rand", "randn", "rand_like", "randn_like",
           "linspace"}
GLOBAL_MIX = {"scaled_dot_product_attention", "multi_head_attention_forward", "softmax", "log_softmax"}
# ops that get no row of their own outside modules: views and bookkeeping
SILENT = IDENTITY | (SHAPE - {"flatten"}) | FACTORY

_DUNDER = {"radd": "add", "iadd": "add", "isub": "sub", "rsub": "rsub", "rmul": "mul", "imul": "mul",
           "truediv": "div", "rtruediv": "div", "itruediv": "div", "rmatmul": "matmul", "ipow": "pow",
           "rpow": "pow", "and": "and", "or": "or"}

_ARGS = {
    "conv": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv_t": ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                   "divisor_override"),
    "lp_pool2d": ("input", "norm_type", "kernel_size", "stride", "ceil_mode"),
    "adaptive": ("input", "output_size"),
    "pad": ("input", "pad", "mode", "value"),
    "cat": ("tensors", "dim"),
    "reduce": ("input", "dim", "keepdim"),
    "softmax": ("input", "dim"),
    "flatten": ("input", "start_dim", "end_dim"),
    "transpose": ("input", "dim0", "dim1"),
    "split": ("input", "split_size_or_sections", "dim"),
    "interpolate": ("input", "size", "scale_factor", "mode"),
}


def op_name(func: Any) -> tuple[str, bool]:
    """A torch function's short name and whether it works in place: ``Tensor.__iadd__`` -> ("add", True)."""
    n = getattr(func, "__name__", None) or str(func)
    inplace = False
    if n.startswith("__") and n.endswith("__") and n != "__get__":
        n = n[2:-2]
        inplace = n.startswith("i") and n not in ("index",) and n[1:] in ("add", "sub", "mul", "truediv", "pow")
        n = _DUNDER.get(n, n)
    elif n.endswith("_") and not n.startswith("_"):
        n, inplace = n[:-1], True
    return n.lstrip("_") if n != "__get__" else n, inplace


def _bind(kind: str, args: tuple, kwargs: dict) -> dict:
    names = _ARGS[kind]
    out = dict(zip(names, args))
    out.update(kwargs)
    return out


# per unit along one spatial dimension: the (first, last) input index it depends on, None if only padding
Extent = tuple[tuple[int, int] | None, ...]


@dataclass
class Node:
    """What is known about one tensor: its field, which of its dimensions are (h, w) and, when the tracer
    follows them, the exact extents of its units along those two dimensions (None: not known)."""

    rf: ReceptiveField
    sdims: tuple[int, int] | None  # positions of the spatial dims; None: no grid (a 1x1 map flattened)
    extent: tuple[Extent, Extent] | None = None


@dataclass
class ModuleCall:
    name: str
    module: nn.Module
    depth: int
    leaf: bool
    path: list  # enclosing calls, root first, self last
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    rf: ReceptiveField | None = None
    node: Node | None = None  # of the output, when the call returns one tensor
    first: bool = True
    index: int = 1  # the how-manieth call of this module (reused modules: ReLU objects shared by blocks)

    @property
    def label(self) -> str:
        name = self.name or type(self.module).__name__
        return name if self.index == 1 else f"{name}:{self.index}"


@dataclass
class OpEvent:
    name: str
    inplace: bool
    path: list  # enclosing module calls, root first
    outputs: list
    new_bytes: int
    macs: int
    flops: int
    kind: str  # conv / fc / other
    rf: ReceptiveField | None
    params: list  # original parameters consumed


class Tracer(TorchFunctionMode):
    """Records ops and module calls of one forward pass. Use through :func:`trace`."""

    def __init__(self, input_tensor: Tensor, const_ids: dict[int, nn.Parameter | Tensor], *,
                 extents: bool = False) -> None:
        super().__init__()
        self.extents = extents
        ext = tuple(tuple((i, i) for i in range(n)) for n in input_tensor.shape[-2:]) if extents else None
        self.nodes: dict[int, Node] = {id(input_tensor): Node(ReceptiveField.identity(), (2, 3), ext)}
        self.keep: list = [input_tensor]  # keeps tensors alive so that ids are not reused during the pass
        self.consts = const_ids
        self.stack: list[ModuleCall] = []
        self.calls: list[ModuleCall] = []
        self.events: list = []  # ModuleCall (leaf, at its start) and OpEvent, in execution order
        self.seen_modules: dict[int, int] = {}

    # module hooks ----------------------------------------------------------------------------------------
    def pre_hook(self, name: str):
        def hook(module, args):
            leaf = next(iter(module.children()), None) is None
            call = ModuleCall(name, module, len(self.stack), leaf, [], [a for a in _tensors(args)])
            call.path = [*self.stack, call]
            call.index = self.seen_modules.get(id(module), 0) + 1
            call.first = call.index == 1
            self.seen_modules[id(module)] = call.index
            self.stack.append(call)
            self.calls.append(call)
            if leaf:  # a leaf call is one row; the ops inside it add to it
                self.events.append(call)

        return hook

    def post_hook(self, name: str):
        def hook(module, args, output):
            call = self.stack.pop()
            assert call.module is module, "module calls must nest"
            call.outputs = list(_tensors(output))
            self.keep.extend(call.outputs)
            call.rf = self.field_of(call.outputs)
            call.node = self.node(call.outputs[0]) if len(call.outputs) == 1 else None

        return hook

    # fields -------------------------------------------------------------------------------------------------
    def node(self, t: Tensor) -> Node:
        n = self.nodes.get(id(t))
        if n is not None:
            return n
        if id(t) in self.consts:
            return Node(ReceptiveField(NONE), None)
        return Node(ReceptiveField.unknown("a tensor the trace did not see being made"), None)

    def field_of(self, outputs: list[Tensor]) -> ReceptiveField | None:
        if not outputs:
            return None
        return rfm.covering([self.node(t).rf for t in outputs]) if len(outputs) > 1 else self.node(outputs[0]).rf

    # the mode -------------------------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.stack and args and isinstance(args[0], Tensor) and args[0].is_meta and \
                getattr(func, "__name__", "") == "batch_norm":
            out = _meta_batch_norm(*args, **kwargs)
        else:
            out = func(*args, **kwargs)
        if not self.stack:
            return out
        outs = list(_tensors(out))
        if not outs:
            return out
        name, inplace = op_name(func)
        ins = [t for t in _tensors((args, kwargs))]
        self.keep.extend(outs)
        try:
            node_out = self.propagate(name, args, kwargs, ins, outs)
        except Exception as exc:  # a rule that cannot apply must not break the summary
            node_out = [Node(ReceptiveField.unknown(f"{name}: {type(exc).__name__}"), None)] * len(outs)
        for t, n in zip(outs, node_out):
            self.nodes[id(t)] = n
        macs, flops, kind = self.cost(name, args, kwargs, ins, outs)
        if all(n.rf.kind == NONE for n in node_out):  # bookkeeping on parameters/buffers (BN's counter)
            macs, flops = 0, 0
        in_storages = {_storage_key(t) for t in ins}
        new_bytes = sum(_nbytes(t) for t in outs if _storage_key(t) not in in_storages)
        params = [self.consts[id(t)] for t in ins if isinstance(self.consts.get(id(t)), nn.Parameter)]
        rf = node_out[0].rf if len(node_out) == 1 else rfm.covering([n.rf for n in node_out])
        self.events.append(OpEvent(name, inplace, list(self.stack), outs, new_bytes, macs, flops, kind, rf, params))
        return out

    def propagate(self, name: str, args: tuple, kwargs: dict, ins: list[Tensor], outs: list[Tensor]) -> list[Node]:
        x = ins[0] if ins else None
        nx = self.node(x) if x is not None else Node(ReceptiveField(NONE), None)
        same = [nx] * len(outs)
        if name in FACTORY or all(self.node(t).rf.kind == NONE for t in ins):
            return [Node(ReceptiveField(NONE), None)] * len(outs)
        o = outs[0]
        spatial4 = nx.sdims == (2, 3) and x.dim() == 4 and o.dim() == 4
        if name in CONV | CONV_T | POOL | ADAPTIVE or name == "pad":
            if not spatial4:
                why = f"{name} over a tensor without an (N, C, H, W) grid"
                return [Node(ReceptiveField.unknown(why), None)] * len(outs)
            return [self.window_rule(name, args, kwargs, x, o, nx)] * len(outs)
        if name in IDENTITY:
            return same
        if name in ELEMENTWISE:
            return [self.broadcast(name, ins, o)] * len(outs)
        if name in ("cat", "concat", "concatenate", "stack"):
            a = _bind("cat", args, kwargs)
            dim = a.get("dim", 0)
            return [self.merge(a["tensors"], dim, o, stack=name == "stack")]
        if name in FC - {"linear"} or name in GLOBAL_MIX:
            if name in ("softmax", "log_softmax"):
                a = _bind("softmax", args, kwargs)
                dim = a.get("dim") % x.dim() if a.get("dim") is not None else None
                if nx.sdims is None or dim not in nx.sdims:
                    return same
            return [Node(self.global_of(ins, name), None)] * len(outs)
        if name == "linear":
            if nx.sdims is not None and x.dim() - 1 in nx.sdims:
                return [Node(self.global_of(ins, name), None)]
            return same
        if name in ("layer_norm", "rms_norm"):
            return same
        if name in ("mean", "sum", "amax", "amin", "max", "min", "std", "var") and len(outs) >= 1:
            return [self.reduce(args, kwargs, x, o, nx)] * len(outs)
        if name in SHAPE:
            return [self.reshape_rule(name, args, kwargs, x, t, nx) for t in outs]
        if name == "interpolate" or name.startswith("upsample"):
            rf = ReceptiveField.unknown("interpolation: the field depends on the mode")
            return [Node(rf, (2, 3) if spatial4 else None)] * len(outs)  # the grid stays, resized
        if nx.rf.kind == GLOBAL:
            return [Node(ReceptiveField(GLOBAL), None)] * len(outs)
        return [Node(ReceptiveField.unknown(f"no receptive-field rule for {name}"), None)] * len(outs)

    def window_rule(self, name, args, kwargs, x: Tensor, o: Tensor, nx: Node) -> Node:
        rf, n_in, n_out = nx.rf, tuple(x.shape[-2:]), tuple(o.shape[-2:])
        if name in CONV | POOL:
            if name in CONV:
                a = _bind("conv", args, kwargs)
                k, s, d = tuple(a["weight"].shape[-2:]), _pair(a.get("stride"), 1), _pair(a.get("dilation"), 1)
                p = a.get("padding", 0)
                if isinstance(p, str):  # "valid" or "same" (stride 1): torch pads (k - 1) * d // 2 before
                    p = (0, 0) if p == "valid" else tuple((k[i] - 1) * d[i] // 2 for i in range(2))
                p = _pair(p, 0)
            else:
                a = _bind("lp_pool2d" if name == "lp_pool2d" else "avg_pool2d" if name == "avg_pool2d"
                          else "max_pool2d", args, kwargs)
                k = _pair(a["kernel_size"], None)
                s, p, d = _pair(a.get("stride") or k, None), _pair(a.get("padding"), 0), _pair(a.get("dilation"), 1)
            return self.made(rfm.through_window(rf, k, s, p, d), nx, n_out, lambda i, o: range(
                o * s[i] - p[i], o * s[i] - p[i] + (k[i] - 1) * d[i] + 1, d[i]))
        if name in CONV_T:
            a = _bind("conv_t", args, kwargs)
            k, s = tuple(a["weight"].shape[-2:]), _pair(a.get("stride"), 1)
            p, d = _pair(a.get("padding"), 0), _pair(a.get("dilation"), 1)
            # output o reads input i where o = i * s - p + m * d for a kernel tap m
            return self.made(rfm.through_transposed(rf, k, s, p, d), nx, n_out, lambda i, o: [
                (o + p[i] - m * d[i]) // s[i] for m in range(k[i]) if (o + p[i] - m * d[i]) % s[i] == 0])
        if name in ADAPTIVE:
            def bins(i, o):  # torch's bins: [floor(o n / out), ceil((o + 1) n / out))
                return range(o * n_in[i] // n_out[i], -(-(o + 1) * n_in[i] // n_out[i]))

            if any(n_in[i] % n_out[i] for i in range(2)):  # no one field, but exact extents
                why = f"adaptive pooling {n_in[0]}x{n_in[1]} -> {n_out[0]}x{n_out[1]}: bins differ in size"
                return self.made(ReceptiveField.unknown(why), nx, n_out, bins)
            k = tuple(n_in[i] // n_out[i] for i in range(2))
            return self.made(rfm.through_window(rf, k, k, 0, 1), nx, n_out, bins)
        # pad: (left, right, top, bottom, ...) for the last dims
        a = _bind("pad", args, kwargs)
        pad = list(a["pad"]) + [0] * 4
        before, mode = (pad[2], pad[0]), a.get("mode") or "constant"

        def source(i, o):  # the input index an output position copies, by padding mode
            j, n = o - before[i], n_in[i]
            if mode == "reflect":
                j = -j if j < 0 else 2 * (n - 1) - j if j >= n else j
            elif mode == "replicate":
                j = min(max(j, 0), n - 1)
            elif mode == "circular":
                j %= n
            return (j,)

        return self.made(rfm.through_pad(rf, before), nx, n_out, source)

    def made(self, rf: ReceptiveField, nx: Node, n_out: tuple[int, int],
             reads: Callable[[int, int], Iterable[int]]) -> Node:
        """The ``n_out`` (h, w) map a window-like op makes from ``nx``'s; ``reads(dim, o)``: the input units
        that output unit ``o`` reads along spatial dimension ``dim`` (0: h, 1: w), padding positions included."""
        if not self.extents or nx.extent is None:
            return Node(rf, (2, 3))
        ext = tuple(_gather(nx.extent[i], (reads(i, o) for o in range(n_out[i]))) for i in range(2))
        return Node(rf, (2, 3), ext)

    def broadcast(self, name: str, ins: list[Tensor], o: Tensor) -> Node:
        fields, sd, exts = [], None, []
        for t in ins:
            n = self.node(t)
            if n.rf.kind == NONE:
                continue
            if n.sdims is None or o.dim() < 2:
                if n.rf.is_local and o.dim() == 4 and o.shape[-2:].numel() > 1 and n.sdims is None:
                    fields.append(ReceptiveField(GLOBAL, note="a context vector broadcast over the map"))
                else:
                    fields.append(n.rf)
                exts.append(None)
                continue
            shift = o.dim() - t.dim()
            pos = (n.sdims[0] + shift, n.sdims[1] + shift)
            if sd is not None and pos != sd:
                return Node(ReceptiveField.unknown(f"{name} of maps with different layouts"), None)
            sd = pos
            if tuple(t.shape[d] for d in n.sdims) != tuple(o.shape[d] for d in pos):
                if t.shape[n.sdims[0]] * t.shape[n.sdims[1]] == 1:
                    fields.append(ReceptiveField(GLOBAL, note="a context vector broadcast over the map"))
                    exts.append(None)
                    continue
                return Node(ReceptiveField.unknown(f"{name} broadcasts along a spatial dimension"), None)
            fields.append(n.rf)
            exts.append(n.extent)
        return Node(rfm.covering(fields), sd, _merged(exts) if sd is not None else None)

    def merge(self, tensors, dim: int, o: Tensor, stack: bool) -> Node:
        nodes = [self.node(t) for t in tensors]
        live = [n for n in nodes if n.rf.kind != NONE]
        if not live:
            return Node(ReceptiveField(NONE), None)
        sd = live[0].sdims
        if any(n.sdims != sd for n in live):
            return Node(ReceptiveField.unknown("concatenates maps with different layouts"), None)
        if sd is None:
            return Node(rfm.covering([n.rf for n in live]), None)
        nd = tensors[0].dim()
        dim = dim % (nd + 1 if stack else nd)
        if not stack and dim in sd:
            return Node(ReceptiveField.unknown("concatenation along a spatial dimension"), None)
        if stack and dim <= sd[0]:
            sd = (sd[0] + 1, sd[1] + 1)
        elif stack and dim <= sd[1]:
            sd = (sd[0], sd[1] + 1)
        return Node(rfm.covering([n.rf for n in live]), sd, _merged([n.extent for n in live]))

    def global_of(self, ins: list[Tensor], name: str) -> ReceptiveField:
        kinds = {self.node(t).rf.kind for t in ins}
        if kinds <= {NONE}:
            return ReceptiveField(NONE)
        if "unknown" in kinds:
            return ReceptiveField.unknown(f"{name} of a tensor with an unknown field")
        return ReceptiveField(GLOBAL, note=f"{name} mixes every position")

    def reduce(self, args, kwargs, x: Tensor, o: Tensor, nx: Node) -> Node:
        a = _bind("reduce", args, kwargs)
        dim, keep = a.get("dim"), bool(a.get("keepdim", False))
        if nx.sdims is None:
            return nx
        if dim is None or isinstance(dim, (list, tuple)) and len(dim) == 0:
            dims = set(range(x.dim()))
        else:
            dims = {d % x.dim() for d in (dim if isinstance(dim, (list, tuple)) else [dim])}
        hit = dims & set(nx.sdims)
        if not hit:
            shift = sum(1 for d in dims if d < nx.sdims[0])
            return Node(nx.rf, nx.sdims if keep else (nx.sdims[0] - shift, nx.sdims[1] - shift), nx.extent)
        if hit != set(nx.sdims):
            return Node(ReceptiveField.unknown("reduction over one spatial dimension"), None)
        h, w = x.shape[nx.sdims[0]], x.shape[nx.sdims[1]]
        rf = rfm.through_window(nx.rf, (h, w), (h, w), 0, 1)  # a global average: one window over the map
        if not keep:
            return Node(rf, None)
        return Node(rf, nx.sdims, tuple((_span(e),) for e in nx.extent) if nx.extent is not None else None)

    def reshape_rule(self, name, args, kwargs, x: Tensor, o: Tensor, nx: Node) -> Node:
        if nx.sdims is None:
            return nx
        a0, a1 = nx.sdims
        if name in ("permute", "transpose", "t"):
            if name == "permute":
                perm = args[1:] if len(args) > 1 and isinstance(args[1], int) else (args[1] if len(args) > 1
                                                                                     else kwargs["dims"])
                perm = [p % x.dim() for p in perm]
            else:
                b = _bind("transpose", args, kwargs) if name == "transpose" else {"dim0": 0, "dim1": 1}
                perm = list(range(x.dim()))
                i, j = b["dim0"] % x.dim(), b["dim1"] % x.dim()
                perm[i], perm[j] = perm[j], perm[i]
            return Node(nx.rf, (perm.index(a0), perm.index(a1)), nx.extent)
        if name in ("chunk", "split", "unbind", "getitem"):
            if name == "getitem":
                return self.getitem_rule(args[1], x, o, nx)
            dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
            dim = dim % x.dim()
            if dim in nx.sdims:
                return Node(ReceptiveField.unknown(f"{name} along a spatial dimension"), None)
            if name == "unbind" and dim < a0:
                return Node(nx.rf, (a0 - 1, a1 - 1), nx.extent)
            return nx
        if x.shape[a0] * x.shape[a1] == 1 and o.dim() < x.dim():
            return Node(nx.rf, None)  # a 1x1 map flattened: each unit keeps the single position's field
        # view / reshape / flatten / squeeze / ...: the grid survives when the trailing dims from h on do
        tail = tuple(x.shape[a0:])
        if a1 == a0 + 1 and o.dim() >= len(tail) and tuple(o.shape[o.dim() - len(tail):]) == tail:
            shift = o.dim() - x.dim()
            return Node(nx.rf, (a0 + shift, a1 + shift), nx.extent)
        if name in ("expand", "expand_as", "repeat") and tuple(o.shape[-2:]) == tuple(x.shape[-2:]):
            return nx
        return Node(ReceptiveField(GLOBAL, note="spatial positions merged into one dimension"), None)

    def getitem_rule(self, idx, x: Tensor, o: Tensor, nx: Node) -> Node:
        if not isinstance(idx, tuple):
            idx = (idx,)
        if any(i is Ellipsis or i is None or isinstance(i, Tensor) for i in idx):
            return Node(ReceptiveField.unknown("advanced indexing of a feature map"), None)
        dropped = 0
        for k, i in enumerate(idx):
            if k in nx.sdims:
                if not (isinstance(i, slice) and i == slice(None)):
                    return Node(ReceptiveField.unknown("indexing along a spatial dimension"), None)
            elif isinstance(i, int):
                dropped += 1
        return Node(nx.rf, (nx.sdims[0] - dropped, nx.sdims[1] - dropped), nx.extent)

    # cost -------------------------------------------------------------------------------------------------
    def cost(self, name, args, kwargs, ins: list[Tensor], outs: list[Tensor]) -> tuple[int, int, str]:
        """(MACs, FLOPs, kind): one multiply-accumulate = 2 FLOPs; element-wise ops count 1 FLOP per output
        element, pooling one per window element, views and bookkeeping nothing."""
        o = outs[0]
        if name in CONV:
            w = _bind("conv", args, kwargs)["weight"]
            macs = o.numel() * w[0].numel()
            return macs, 2 * macs, "conv"
        if name in CONV_T:
            a = _bind("conv_t", args, kwargs)
            macs = a["input"].numel() * a["weight"][0].numel()
            return macs, 2 * macs, "conv"
        if name == "linear":
            macs = o.numel() * args[1].shape[-1] if len(args) > 1 else o.numel() * kwargs["weight"].shape[-1]
            return macs, 2 * macs, "fc"
        if name in ("matmul", "mm", "bmm"):
            macs = o.numel() * ins[0].shape[-1]
            return macs, 2 * macs, "fc"
        if name == "addmm":
            macs = o.numel() * ins[1].shape[-1]
            return macs, 2 * macs, "fc"
        if name in SILENT or name in ("cat", "concat", "concatenate", "stack", "pad"):
            return 0, 0, "other"
        if name in POOL:
            k = _pair(_bind("avg_pool2d", args, kwargs).get("kernel_size") if name != "lp_pool2d"
                      else _bind("lp_pool2d", args, kwargs)["kernel_size"], 1)
            return 0, o.numel() * k[0] * k[1], "other"
        if name in ADAPTIVE or name in ("mean", "sum", "amax", "amin"):
            return 0, ins[0].numel(), "other"
        if name == "batch_norm":
            return 0, 2 * o.numel(), "other"
        return 0, sum(t.numel() for t in outs), "other"


def _meta_batch_norm(input, running_mean=None, running_var=None, weight=None, bias=None, training=False,
                     momentum=0.1, eps=1e-5):
    """Batch norm on the meta device as ``x * w + b``: same shape, dtype and autograd links (it keeps ``x``
    for backward, as batch norm does), without torch's Python decomposition of batch norm on meta, which
    costs ~10 ms a call and dominated the trace."""
    shape = [1, -1] + [1] * (input.dim() - 2)
    out = input * weight.view(shape) if weight is not None else input.clone()
    return out + bias.view(shape) if bias is not None else out


def _span(spans: Iterable[tuple[int, int] | None]) -> tuple[int, int] | None:
    """The smallest (first, last) range holding every given one; None if none sees anything."""
    spans = [sp for sp in spans if sp is not None]
    return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None


def _gather(ext: Extent, reads: Iterable[Iterable[int]]) -> Extent:
    """Per output unit, the span of the extents of the input units it reads (padding positions read
    nothing)."""
    return tuple(_span(ext[r] for r in units if 0 <= r < len(ext)) for units in reads)


def _merged(exts: list[tuple[Extent, Extent] | None]) -> tuple[Extent, Extent] | None:
    """Unit by unit, the span of several maps' extents on the same grid (add, concat); None if one is not
    known (or not a map: a context vector broadcast over the map)."""
    if not exts or any(e is None for e in exts):
        return None
    if all(e is exts[0] for e in exts):  # the same map twice, or a map and its in-place result
        return exts[0]
    return tuple(tuple(_span(units) for units in zip(*(e[i] for e in exts))) for i in range(2))


def _tensors(obj):
    """Tensors in nested args / outputs, in order."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)


def _storage_key(t: Tensor) -> int:
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. some subclasses)
        return id(t)


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()

