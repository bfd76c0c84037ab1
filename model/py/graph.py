"""graph.py — a torchvision detection backbone as the node list of model/FORMAT.md.

backbone_graph(backbone, prefix="backbone.") -> (nodes, outputs, tensor_keys)

The backbone is traced with torch.fx (a Tracer whose leaves are torch.nn's own modules,
FrozenBatchNorm2d, ConvNeXt's LayerNorm2d, StochasticDepth and FeaturePyramidNetwork) and
every graph node is mapped to one FORMAT.md operation, or to none (identities, layout
permutes, getitem on a dict). Anything without a mapping stops the export with its name
and module path. Each value carries a layout tag: "NCHW", or "NHWC" between ConvNeXt's
channel-last permutes (the stored data is CHW either way; the tag only decides which
ops are legal: layernorm/linear over the last dim need NHWC, convs need NCHW).

Tensor keys are the full FasterRCNN state_dict names (prefix + module path + ".weight").
"""

import operator
from collections import OrderedDict

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d
from torchvision.ops import FeaturePyramidNetwork, StochasticDepth
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

try:
    from torchvision.models.convnext import LayerNorm2d
except ImportError:  # pragma: no cover
    LayerNorm2d = None


class ExportError(Exception):
    pass


def fail(msg):
    raise ExportError("export: " + msg)


EXTRA_LEAVES = tuple(c for c in (FrozenBatchNorm2d, LayerNorm2d, StochasticDepth,
                                  FeaturePyramidNetwork) if c is not None)


class LeafTracer(torch.fx.Tracer):
    """Leaves: torch.nn's modules and EXTRA_LEAVES. Each node records the path of the
    module whose forward created it (meta "vdetect_path"), for error messages."""

    def __init__(self):
        super().__init__()
        self.path_stack = []

    def is_leaf_module(self, m, qualname):
        if isinstance(m, EXTRA_LEAVES):
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        self.path_stack.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.path_stack.pop()

    def create_node(self, *a, **kw):
        n = super().create_node(*a, **kw)
        n.meta["vdetect_path"] = self.path_stack[-1] if self.path_stack else ""
        return n


# ---- values ------------------------------------------------------------------------------

class Val:
    """A tensor value in the emitted graph: node index, layout tag, torch shape (NCHW/NHWC
    as torch sees it, from ShapeProp)."""
    __slots__ = ("idx", "layout", "shape")

    def __init__(self, idx, layout, shape):
        self.idx, self.layout, self.shape = idx, layout, tuple(shape) if shape else None

    @property
    def channels(self):
        if self.shape is None:
            return None
        return self.shape[1] if self.layout == "NCHW" else self.shape[-1]


class Param:
    def __init__(self, key, tensor):
        self.key, self.tensor = key, tensor


class ShapeOf:          # x.shape / x.size()
    def __init__(self, v):
        self.v = v


class SizeOf:           # x.shape[-2:] — (height, width) of a value
    def __init__(self, v):
        self.v = v


def pair(v):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return [int(v[0]), int(v[0])]
        if len(v) != 2:
            fail("expected a pair, got %r" % (v,))
        return [int(v[0]), int(v[1])]
    return [int(v), int(v)]


def fname(target):
    """A readable name for a call_function target."""
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if mod in ("_operator", "operator"):
        return "operator." + name
    if mod.startswith("torch.nn.functional"):
        return "torch.nn.functional." + name
    if mod.startswith("torch") or mod == "":
        if hasattr(torch, name) and getattr(torch, name) is target:
            return "torch." + name
        if hasattr(F, name) and getattr(F, name) is target:
            return "torch.nn.functional." + name
    return (mod + "." if mod else "") + name


class Converter:
    def __init__(self, root, prefix):
        self.root = root
        self.prefix = prefix
        self.nodes = [{"op": "input"}]
        self.keys = {}          # key -> tensor
        self.where = prefix.rstrip(".")

    # -- helpers
    def key(self, path, attr, required=True):
        mod = self.root.get_submodule(path) if path else self.root
        t = getattr(mod, attr, None)
        if t is None:
            if required:
                fail("%s has no %s at %s" % (type(mod).__name__, attr, self.full(path)))
            return None
        k = self.full(path) + "." + attr
        self.keys[k] = t
        return k

    def full(self, path):
        return (self.prefix + path) if path else self.prefix.rstrip(".")

    def emit(self, node, layout, shape):
        self.nodes.append(node)
        return Val(len(self.nodes) - 1, layout, shape)

    def need_tensor(self, v, what):
        if not isinstance(v, Val):
            fail("%s at %s: expected a feature map, got %s" % (what, self.where, type(v).__name__))
        return v

    def need_nchw(self, v, what):
        self.need_tensor(v, what)
        if v.layout != "NCHW":
            fail("%s at %s on a channel-last (NHWC) value" % (what, self.where))
        if v.shape is not None and len(v.shape) != 4:
            fail("%s at %s on a %d-d value (the graph holds [N,C,H,W] maps)"
                 % (what, self.where, len(v.shape)))
        return v

    # -- modules
    def module(self, m, path, args, kwargs, out_shape):
        """Emit one leaf module applied to args[0]; returns the value."""
        self.where = self.full(path)
        what = "torch.nn." + type(m).__name__ if type(m).__module__.startswith("torch.nn") \
            else type(m).__module__ + "." + type(m).__name__
        if isinstance(m, FeaturePyramidNetwork):
            return self.fpn(m, path, args[0])
        if kwargs:
            fail("%s at %s called with keyword arguments" % (what, self.where))
        if len(args) != 1:
            fail("%s at %s called with %d arguments" % (what, self.where, len(args)))
        x = args[0]
        if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                          nn.FeatureAlphaDropout, nn.Identity, StochasticDepth)):
            return self.need_tensor(x, what)
        if isinstance(m, nn.Conv2d):
            self.need_nchw(x, what)
            if m.padding_mode != "zeros":
                fail("%s at %s: padding_mode %r (only 'zeros')" % (what, self.where, m.padding_mode))
            pad = m.padding
            if isinstance(pad, str):
                if pad == "valid":
                    pad = (0, 0)
                else:  # 'same'
                    tot = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
                    if any(t % 2 for t in tot) or any(s != 1 for s in m.stride):
                        fail("%s at %s: asymmetric padding='same'" % (what, self.where))
                    pad = (tot[0] // 2, tot[1] // 2)
            return self.emit({"op": "conv", "in": [x.idx], "weight": self.key(path, "weight"),
                              "bias": self.key(path, "bias", False), "stride": pair(m.stride),
                              "padding": pair(pad), "dilation": pair(m.dilation),
                              "groups": int(m.groups)}, "NCHW", out_shape)
        if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d)):
            self.need_nchw(x, what)
            if isinstance(m, nn.BatchNorm2d):
                if not m.affine or not m.track_running_stats or m.running_mean is None:
                    fail("%s at %s without affine weights or running statistics"
                         % (what, self.where))
            return self.emit({"op": "batchnorm", "in": [x.idx],
                              "weight": self.key(path, "weight"), "bias": self.key(path, "bias"),
                              "running_mean": self.key(path, "running_mean"),
                              "running_var": self.key(path, "running_var"),
                              "eps": float(m.eps)}, "NCHW", out_shape)
        if LayerNorm2d is not None and isinstance(m, LayerNorm2d):
            self.need_nchw(x, what)
            return self.layernorm(x, m, path, "NCHW", out_shape, what)
        if isinstance(m, nn.LayerNorm):
            self.need_tensor(x, what)
            if x.layout != "NHWC":
                fail("%s at %s on a channels-first value (only over the channels of a "
                     "channel-last map)" % (what, self.where))
            return self.layernorm(x, m, path, "NHWC", out_shape, what)
        if isinstance(m, nn.Linear):
            self.need_tensor(x, what)
            if x.layout != "NHWC":
                fail("%s at %s on a value that is not a channel-last map" % (what, self.where))
            return self.emit({"op": "linear", "in": [x.idx], "weight": self.key(path, "weight"),
                              "bias": self.key(path, "bias", False)}, "NHWC", out_shape)
        act = self.module_act(m)
        if act is not None:
            return self.act(x, act, out_shape, what)
        if isinstance(m, nn.MaxPool2d):
            self.need_nchw(x, what)
            if m.return_indices:
                fail("%s at %s with return_indices" % (what, self.where))
            return self.emit({"op": "maxpool", "in": [x.idx], "kernel": pair(m.kernel_size),
                              "stride": pair(m.stride if m.stride is not None else m.kernel_size),
                              "padding": pair(m.padding), "dilation": pair(m.dilation),
                              "ceil_mode": bool(m.ceil_mode)}, "NCHW", out_shape)
        if isinstance(m, nn.AvgPool2d):
            self.need_nchw(x, what)
            if m.divisor_override is not None:
                fail("%s at %s with divisor_override" % (what, self.where))
            return self.emit({"op": "avgpool", "in": [x.idx], "kernel": pair(m.kernel_size),
                              "stride": pair(m.stride if m.stride is not None else m.kernel_size),
                              "padding": pair(m.padding), "ceil_mode": bool(m.ceil_mode),
                              "count_include_pad": bool(m.count_include_pad)}, "NCHW", out_shape)
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            self.need_nchw(x, what)
            os_ = m.output_size
            if os_ is None or (isinstance(os_, (tuple, list)) and None in os_):
                fail("%s at %s with a None output size" % (what, self.where))
            if isinstance(m, nn.AdaptiveMaxPool2d) and m.return_indices:
                fail("%s at %s with return_indices" % (what, self.where))
            op = "adaptive_avgpool" if isinstance(m, nn.AdaptiveAvgPool2d) else "adaptive_maxpool"
            return self.emit({"op": op, "in": [x.idx], "output": pair(os_)}, "NCHW", out_shape)
        if isinstance(m, nn.Upsample):
            self.need_nchw(x, what)
            if m.mode != "nearest" or m.size is not None:
                fail("%s at %s: only mode='nearest' with an integer scale_factor"
                     % (what, self.where))
            return self.upsample_scale(x, m.scale_factor, out_shape, what)
        fail("unsupported operation %s at %s" % (what, self.where))

    @staticmethod
    def module_act(m):
        if isinstance(m, nn.ReLU6):
            return "relu6"
        if isinstance(m, nn.ReLU):
            return "relu"
        if isinstance(m, nn.Hardswish):
            return "hardswish"
        if isinstance(m, nn.Hardsigmoid):
            return "hardsigmoid"
        if isinstance(m, nn.SiLU):
            return "silu"
        if isinstance(m, nn.GELU):
            if m.approximate != "none":
                fail("torch.nn.GELU(approximate=%r) (only the exact form)" % m.approximate)
            return "gelu"
        if isinstance(m, nn.Sigmoid):
            return "sigmoid"
        if isinstance(m, nn.Tanh):
            return "tanh"
        return None

    def act(self, x, fn, out_shape, what):
        self.need_tensor(x, what)
        return self.emit({"op": "act", "in": [x.idx], "fn": fn}, x.layout, out_shape)

    def layernorm(self, x, m, path, layout, out_shape, what):
        ns = tuple(m.normalized_shape)
        if x.channels is not None and ns != (x.channels,):
            fail("%s at %s normalises over %r, not the %d channels" % (what, self.where, ns,
                                                                         x.channels))
        if getattr(m, "elementwise_affine", True) is False or m.weight is None or m.bias is None:
            fail("%s at %s without weight and bias" % (what, self.where))
        return self.emit({"op": "layernorm", "in": [x.idx], "weight": self.key(path, "weight"),
                          "bias": self.key(path, "bias"), "eps": float(m.eps)}, layout, out_shape)

    def upsample_scale(self, x, sf, out_shape, what):
        s = sf if isinstance(sf, (tuple, list)) else (sf, sf)
        if len(s) != 2 or any(float(v) != int(v) or int(v) < 1 for v in s):
            fail("%s at %s: scale_factor %r is not a positive integer" % (what, self.where, sf))
        return self.emit({"op": "upsample", "in": [x.idx], "scale": [int(s[0]), int(s[1])]},
                         "NCHW", out_shape)

    # -- FPN as plain nodes
    def seq(self, m, path, x, what):
        """A Conv2dNormActivation-style Sequential (or a bare module) applied to x."""
        if isinstance(m, nn.Sequential):
            for name, c in m.named_children():
                x = self.seq(c, path + "." + name, x, what)
            return x
        shape = None
        if x.shape is not None:
            with torch.no_grad():
                shape = tuple(m(torch.zeros(x.shape)).shape)
        return self.module(m, path, (x,), {}, shape)

    def fpn(self, m, path, d):
        what = "torchvision.ops.FeaturePyramidNetwork"
        where = self.full(path)
        if not isinstance(d, dict):
            fail("%s at %s: input is not a dict of maps" % (what, where))
        names = list(d.keys())
        xs = [self.need_nchw(v, what) for v in d.values()]
        n = len(xs)
        if len(m.inner_blocks) != n or len(m.layer_blocks) != n:
            fail("%s at %s has %d levels but receives %d maps" % (what, where,
                                                                    len(m.inner_blocks), n))
        last_inner = self.seq(m.inner_blocks[n - 1], path + ".inner_blocks.%d" % (n - 1),
                              xs[-1], what)
        results = [self.seq(m.layer_blocks[n - 1], path + ".layer_blocks.%d" % (n - 1),
                            last_inner, what)]
        for i in range(n - 2, -1, -1):
            lat = self.seq(m.inner_blocks[i], path + ".inner_blocks.%d" % i, xs[i], what)
            self.where = where
            up = self.emit({"op": "upsample", "in": [last_inner.idx, lat.idx]}, "NCHW",
                           None if last_inner.shape is None or lat.shape is None else
                           last_inner.shape[:2] + lat.shape[2:])
            last_inner = self.emit({"op": "add", "in": [lat.idx, up.idx]}, "NCHW", lat.shape)
            results.insert(0, self.seq(m.layer_blocks[i], path + ".layer_blocks.%d" % i,
                                       last_inner, what))
        eb = m.extra_blocks
        if eb is None:
            pass
        elif type(eb) is LastLevelMaxPool:
            self.where = self.full(path + ".extra_blocks")
            p = results[-1]
            sh = None if p.shape is None else p.shape[:2] + tuple((s - 1) // 2 + 1 for s in p.shape[2:])
            results.append(self.emit({"op": "maxpool", "in": [p.idx], "kernel": [1, 1],
                                      "stride": [2, 2], "padding": [0, 0], "dilation": [1, 1],
                                      "ceil_mode": False}, "NCHW", sh))
            names.append("pool")
        elif type(eb) is LastLevelP6P7:
            src = results[-1] if eb.use_P5 else xs[-1]
            p6 = self.seq(eb.p6, path + ".extra_blocks.p6", src, what)
            r = self.emit({"op": "act", "in": [p6.idx], "fn": "relu"}, "NCHW", p6.shape)
            p7 = self.seq(eb.p7, path + ".extra_blocks.p7", r, what)
            results += [p6, p7]
            names += ["p6", "p7"]
        else:
            fail("unsupported FPN extra block %s at %s (only LastLevelMaxPool and "
                 "LastLevelP6P7)" % (type(eb).__name__, self.full(path + ".extra_blocks")))
        return OrderedDict(zip(names, results))


def _path_of(node):
    p = node.meta.get("vdetect_path")
    if p is None:
        st = node.meta.get("nn_module_stack")
        p = list(st.keys())[-1] if st else None
    return p


def _alias_inplace(env, n, inplace):
    """An in-place op (ReLU(inplace=True), x += y, x.relu_()) overwrites its input: every
    later read of that input, through any name, sees the result. IntermediateLayerGetter
    returns maps by reference, so a returned conv followed by an in-place ReLU returns
    the ReLU's output; so must the graph."""
    if not inplace or not n.args or not isinstance(n.args[0], torch.fx.Node):
        return
    old, new = env.get(n.args[0]), env[n]
    if not isinstance(old, Val) or not isinstance(new, Val) or old is new:
        return
    for k in list(env):
        if env[k] is old:
            env[k] = new


def convert(backbone, prefix="backbone.", sample=None):
    """(nodes, outputs, tensors {key: tensor}, graph module)"""
    tracer = LeafTracer()
    try:
        graph = tracer.trace(backbone)
    except ExportError:
        raise
    except Exception as e:
        raise ExportError("export: torch.fx cannot trace the backbone (%s: %s)"
                          % (type(e).__name__, e))
    gm = torch.fx.GraphModule(backbone, graph)
    if sample is None:
        sample = torch.rand(1, 3, 64, 64)
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(sample)
    except Exception as e:
        raise ExportError("export: the backbone fails on a %s input (%s: %s)"
                          % (list(sample.shape), type(e).__name__, e))
    c = Converter(backbone, prefix)
    env = {}
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        fail("the backbone takes %d inputs (one image tensor expected)" % len(placeholders))
    result = None

    def shape_of(n):
        tm = n.meta.get("tensor_meta")
        return tuple(tm.shape) if tm is not None and hasattr(tm, "shape") else None

    def load(a):
        return torch.fx.node.map_arg(a, lambda n: env[n])

    for n in graph.nodes:
        p = _path_of(n)
        c.where = c.full(p) if p else c.full("")
        if n.op == "placeholder":
            env[n] = Val(0, "NCHW", shape_of(n))
        elif n.op == "get_attr":
            t = gm
            for part in n.target.split("."):
                t = getattr(t, part)
            if not isinstance(t, torch.Tensor):
                fail("unsupported attribute %s at %s" % (n.target, c.where))
            env[n] = Param(c.full(n.target), t)
        elif n.op == "call_module":
            m = backbone.get_submodule(n.target)
            env[n] = c.module(m, n.target, load(n.args), load(n.kwargs), shape_of(n))
            _alias_inplace(env, n, getattr(m, "inplace", False) is True)
        elif n.op == "call_function":
            env[n] = call_function(c, n, load(n.args), load(n.kwargs), shape_of(n))
            _alias_inplace(env, n, n.kwargs.get("inplace") is True or
                           n.target in (operator.iadd, operator.imul))
        elif n.op == "call_method":
            env[n] = call_method(c, n, load(n.args), load(n.kwargs), shape_of(n))
            _alias_inplace(env, n, n.target.endswith("_") and not n.target.startswith("_"))
        elif n.op == "output":
            result = load(n.args[0])
    # outputs
    if isinstance(result, Val):
        outs = OrderedDict([("0", result)])
    elif isinstance(result, dict):
        outs = OrderedDict(result)
    else:
        fail("the backbone returns %s (a tensor or a dict of tensors expected)"
             % type(result).__name__)
    for k, v in outs.items():
        if not isinstance(v, Val):
            fail("backbone output %r is not a feature map" % k)
        if v.layout != "NCHW":
            fail("backbone output %r is channel-last" % k)
    return c, outs, gm


def _two_tensors(c, what, args, kwargs):
    if len(args) != 2:
        fail("%s at %s with %d arguments" % (what, c.where, len(args)))
    return args[0], args[1]


def binary(c, op, what, a, b, out_shape):
    if isinstance(a, Param) and isinstance(b, Val):
        a, b = b, a
    if isinstance(a, Val) and isinstance(b, Param):
        if op != "mul":
            fail("%s of a feature map and a parameter at %s (only multiplication)"
                 % (what, c.where))
        C = a.channels
        ps = [1] * (4 - b.tensor.dim()) + list(b.tensor.shape)
        want = [1, C, 1, 1] if a.layout == "NCHW" else [1, 1, 1, C]
        if ps != want:
            fail("%s at %s: parameter %s of shape %s is not per channel of the %s map"
                 % (what, c.where, b.key, list(b.tensor.shape), a.layout))
        c.keys[b.key] = b.tensor
        return c.emit({"op": "scale", "in": [a.idx], "weight": b.key}, a.layout, out_shape)
    if not (isinstance(a, Val) and isinstance(b, Val)):
        fail("%s at %s with a constant operand (%r, %r)" % (what, c.where, type(a).__name__,
                                                              type(b).__name__))
    if a.layout != b.layout:
        fail("%s at %s of a channel-first and a channel-last value" % (what, c.where))
    if a.shape is not None and b.shape is not None and a.shape != b.shape:
        ok = False
        if a.layout == "NCHW" and len(a.shape) == 4 and len(b.shape) == 4:
            for x, y in ((a, b), (b, a)):
                if x.shape[2:] == (1, 1) and x.shape[1] == y.shape[1] and x.shape[0] == y.shape[0]:
                    ok = True
        if not ok:
            fail("%s at %s broadcasts %s with %s (only equal shapes or a [C,1,1] side)"
                 % (what, c.where, list(a.shape), list(b.shape)))
    return c.emit({"op": op, "in": [a.idx, b.idx]}, a.layout, out_shape)


ACT_FUNCS = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.hardswish: "hardswish",
             F.hardsigmoid: "hardsigmoid", F.silu: "silu", F.sigmoid: "sigmoid",
             torch.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh"}


def permute_of(c, what, x, dims):
    c.need_tensor(x, what)
    dims = tuple(int(d) % 4 for d in dims)
    if x.layout == "NCHW" and dims == (0, 2, 3, 1):
        return Val(x.idx, "NHWC", (x.shape[0], x.shape[2], x.shape[3], x.shape[1]) if x.shape else None)
    if x.layout == "NHWC" and dims == (0, 3, 1, 2):
        return Val(x.idx, "NCHW", (x.shape[0], x.shape[3], x.shape[1], x.shape[2]) if x.shape else None)
    fail("%s%s at %s of a %s value (only the NCHW<->NHWC permutes)"
         % (what, dims, c.where, x.layout))


def mean_of(c, what, x, dims, keepdim, out_shape):
    c.need_tensor(x, what)
    d = tuple(sorted(int(v) % 4 for v in (dims if isinstance(dims, (tuple, list)) else [dims])))
    if x.layout == "NCHW" and d == (2, 3) and keepdim:
        return c.emit({"op": "adaptive_avgpool", "in": [x.idx], "output": [1, 1]}, "NCHW",
                      out_shape)
    fail("%s(dim=%r, keepdim=%r) at %s (only the spatial mean with keepdim=True)"
         % (what, dims, keepdim, c.where))


def call_function(c, n, args, kwargs, out_shape):
    t = n.target
    what = fname(t)
    if t is getattr:
        obj, attr = args
        if attr == "shape" and isinstance(obj, Val):
            return ShapeOf(obj)
        fail("unsupported attribute access .%s at %s" % (attr, c.where))
    if t is operator.getitem:
        obj, idx = args
        if isinstance(obj, ShapeOf):
            if isinstance(idx, slice) and obj.v.layout == "NCHW" and \
                    range(4)[idx] == range(2, 4):
                return SizeOf(obj.v)
            if isinstance(idx, int) and obj.v.shape is not None:
                return int(obj.v.shape[idx])
            fail("unsupported shape index %r at %s" % (idx, c.where))
        if isinstance(obj, (dict, list, tuple)):
            return obj[idx]
        fail("unsupported operation operator.getitem on %s at %s" % (type(obj).__name__, c.where))
    if t in (operator.add, operator.iadd, torch.add):
        a, b = _two_tensors(c, what, args, {})
        if kwargs.get("alpha", 1) != 1:
            fail("%s with alpha at %s" % (what, c.where))
        return binary(c, "add", what, a, b, out_shape)
    if t in (operator.mul, operator.imul, torch.mul):
        a, b = _two_tensors(c, what, args, kwargs)
        return binary(c, "mul", what, a, b, out_shape)
    if t is torch.cat:
        ts = args[0] if args else kwargs.get("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        ts = [c.need_tensor(v, what) for v in ts]
        lay = ts[0].layout
        if any(v.layout != lay for v in ts):
            fail("%s at %s of mixed layouts" % (what, c.where))
        cd = 1 if lay == "NCHW" else 3
        if int(dim) % 4 != cd:
            fail("%s at %s along dim %r (only along the channels)" % (what, c.where, dim))
        return c.emit({"op": "cat", "in": [v.idx for v in ts]}, lay, out_shape)
    if t in ACT_FUNCS:
        if len(args) != 1 or any(k not in ("inplace",) for k in kwargs):
            fail("%s at %s with extra arguments" % (what, c.where))
        return c.act(args[0], ACT_FUNCS[t], out_shape, what)
    if t is F.gelu:
        if kwargs.get("approximate", "none") != "none":
            fail("%s(approximate=%r) at %s" % (what, kwargs["approximate"], c.where))
        return c.act(args[0], "gelu", out_shape, what)
    if t is torch.permute:
        x = args[0]
        dims = args[1] if len(args) > 1 else kwargs["dims"]
        return permute_of(c, what, x, dims)
    if t is torch.mean:
        x = args[0]
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        keep = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        return mean_of(c, what, x, dims, keep, out_shape)
    if t in (F.dropout, F.dropout2d, F.alpha_dropout, F.feature_alpha_dropout):
        tr = args[2] if len(args) > 2 else kwargs.get("training", True)
        if tr:
            fail("%s with training=True at %s" % (what, c.where))
        return c.need_tensor(args[0], what)
    if getattr(t, "__name__", "") == "stochastic_depth" and \
            getattr(t, "__module__", "").startswith("torchvision"):
        names = ["input", "p", "mode", "training"]
        a = dict(zip(names, args), **kwargs)
        if a.get("training", True) and a.get("p", 0) != 0:
            fail("%s with training=True at %s" % (what, c.where))
        return c.need_tensor(a["input"], what)
    if t is F.max_pool2d:
        names = ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                 "return_indices"]
        a = dict(zip(names, args), **kwargs)
        x = c.need_nchw(a["input"], what)
        if a.get("return_indices", False):
            fail("%s with return_indices at %s" % (what, c.where))
        st = a.get("stride")
        if st is None or (isinstance(st, (list, tuple)) and len(st) == 0):
            st = a["kernel_size"]
        return c.emit({"op": "maxpool", "in": [x.idx], "kernel": pair(a["kernel_size"]),
                       "stride": pair(st), "padding": pair(a.get("padding", 0)),
                       "dilation": pair(a.get("dilation", 1)),
                       "ceil_mode": bool(a.get("ceil_mode", False))}, "NCHW", out_shape)
    if t is F.adaptive_avg_pool2d:
        x = c.need_nchw(args[0], what)
        os_ = args[1] if len(args) > 1 else kwargs["output_size"]
        if os_ is None or (isinstance(os_, (tuple, list)) and None in os_):
            fail("%s with a None output size at %s" % (what, c.where))
        return c.emit({"op": "adaptive_avgpool", "in": [x.idx], "output": pair(os_)}, "NCHW",
                      out_shape)
    if t is F.adaptive_max_pool2d:
        x = c.need_nchw(args[0], what)
        os_ = args[1] if len(args) > 1 else kwargs["output_size"]
        if kwargs.get("return_indices", False) or (len(args) > 2 and args[2]):
            fail("%s with return_indices at %s" % (what, c.where))
        if os_ is None or (isinstance(os_, (tuple, list)) and None in os_):
            fail("%s with a None output size at %s" % (what, c.where))
        return c.emit({"op": "adaptive_maxpool", "in": [x.idx], "output": pair(os_)}, "NCHW",
                      out_shape)
    if t is F.avg_pool2d:
        names = ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                 "divisor_override"]
        a = dict(zip(names, args), **kwargs)
        x = c.need_nchw(a["input"], what)
        if a.get("divisor_override") is not None:
            fail("%s with divisor_override at %s" % (what, c.where))
        st = a.get("stride")
        if st is None or (isinstance(st, (list, tuple)) and len(st) == 0):
            st = a["kernel_size"]
        return c.emit({"op": "avgpool", "in": [x.idx], "kernel": pair(a["kernel_size"]),
                       "stride": pair(st), "padding": pair(a.get("padding", 0)),
                       "ceil_mode": bool(a.get("ceil_mode", False)),
                       "count_include_pad": bool(a.get("count_include_pad", True))},
                      "NCHW", out_shape)
    if t is F.interpolate:
        names = ["input", "size", "scale_factor", "mode", "align_corners",
                 "recompute_scale_factor", "antialias"]
        a = dict(zip(names, args), **kwargs)
        x = c.need_nchw(a["input"], what)
        if a.get("mode", "nearest") != "nearest" or a.get("antialias", False):
            fail("%s(mode=%r) at %s (only nearest)" % (what, a.get("mode"), c.where))
        if a.get("size") is not None:
            s = a["size"]
            if isinstance(s, SizeOf):
                return c.emit({"op": "upsample", "in": [x.idx, s.v.idx]}, "NCHW", out_shape)
            fail("%s with a fixed size at %s (only the size of another map, "
                 "x.shape[-2:])" % (what, c.where))
        return c.upsample_scale(x, a.get("scale_factor"), out_shape, what)
    if t is F.layer_norm:
        names = ["input", "normalized_shape", "weight", "bias", "eps"]
        a = dict(zip(names, args), **kwargs)
        x = c.need_tensor(a["input"], what)
        if x.layout != "NHWC":
            fail("%s at %s on a channels-first value" % (what, c.where))
        w, b = a.get("weight"), a.get("bias")
        if not isinstance(w, Param) or not isinstance(b, Param):
            fail("%s at %s without weight and bias parameters" % (what, c.where))
        if tuple(a["normalized_shape"]) != (x.channels,):
            fail("%s at %s over %r, not the channels" % (what, c.where, a["normalized_shape"]))
        c.keys[w.key] = w.tensor
        c.keys[b.key] = b.tensor
        return c.emit({"op": "layernorm", "in": [x.idx], "weight": w.key, "bias": b.key,
                       "eps": float(a.get("eps", 1e-5))}, "NHWC", out_shape)
    fail("unsupported operation %s at %s" % (what, c.where))


def call_method(c, n, args, kwargs, out_shape):
    m = n.target
    what = "Tensor." + m
    x = args[0]
    if m == "contiguous":
        return c.need_tensor(x, what)
    if m == "size" and len(args) == 1 and not kwargs:
        return ShapeOf(c.need_tensor(x, what))
    if m == "permute":
        dims = args[1:] if len(args) > 2 else (args[1] if len(args) == 2 else kwargs["dims"])
        return permute_of(c, what, x, dims)
    if m == "mean":
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        keep = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        return mean_of(c, what, x, dims, keep, out_shape)
    if m in ("relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_") and len(args) == 1:
        return c.act(x, m.rstrip("_"), out_shape, what)
    if m in ("add", "add_", "mul", "mul_") and len(args) == 2:
        if kwargs.get("alpha", 1) != 1:
            fail("%s with alpha at %s" % (what, c.where))
        return binary(c, m.rstrip("_"), what, args[0], args[1], out_shape)
    fail("unsupported operation %s at %s" % (what, c.where))


def prune(nodes, outs):
    """Drop nodes nothing reachable from the outputs reads; renumber."""
    live = set()
    stack = [v.idx for v in outs.values()] + [0]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        stack.extend(nodes[i].get("in", []))
    order = sorted(live)
    remap = {old: new for new, old in enumerate(order)}
    out_nodes = []
    for old in order:
        nd = dict(nodes[old])
        if "in" in nd:
            nd["in"] = [remap[i] for i in nd["in"]]
        out_nodes.append(nd)
    outputs = [{"name": k, "node": remap[v.idx]} for k, v in outs.items()]
    return out_nodes, outputs


TENSOR_FIELDS = ("weight", "bias", "running_mean", "running_var")


def backbone_graph(backbone, prefix="backbone.", sample=None, check_channels=True):
    """(nodes, outputs, tensors) — tensors: OrderedDict key -> tensor, exactly those the
    nodes name, in first-use order."""
    was_training = backbone.training
    backbone.eval()
    try:
        c, outs, gm = convert(backbone, prefix, sample)
    finally:
        backbone.train(was_training)
    nodes, outputs = prune(c.nodes, outs)
    tensors = OrderedDict()
    for nd in nodes:
        for f in TENSOR_FIELDS:
            k = nd.get(f)
            if k is not None:
                tensors[k] = c.keys[k]
    if check_channels:
        oc = getattr(backbone, "out_channels", None)
        if oc is None:
            fail("the backbone has no out_channels attribute (FasterRCNN needs it)")
        for k, v in outs.items():
            if v.channels is not None and v.channels != oc:
                fail("backbone output %r has %d channels, out_channels says %d"
                     % (k, v.channels, oc))
    return nodes, outputs, tensors
