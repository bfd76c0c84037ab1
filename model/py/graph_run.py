"""graph_run.py — the executable meaning of model/FORMAT.md's graph: run_graph(desc, tensors, x)
runs the description's nodes with torch ops on x ([3, H, W] or [1, 3, H, W]) and returns
{output name: [1, C, h, w] tensor}. desc is the whole description (or just its "graph");
tensors maps keys to tensors."""

import torch
import torch.nn.functional as F

ACTS = {
    "relu": torch.relu,
    "relu6": lambda x: torch.clamp(x, 0.0, 6.0),
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "silu": F.silu,
    "gelu": lambda x: F.gelu(x),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}


def per_channel(t, C):
    if t.numel() != C:
        raise ValueError("per-channel tensor of %d values for %d channels" % (t.numel(), C))
    return t.reshape(1, C, 1, 1)


def run_graph(desc, tensors, x):
    g = desc["graph"] if "graph" in desc else desc
    T = lambda k: None if k is None else tensors[k]   # noqa: E731
    if x.dim() == 3:
        x = x.unsqueeze(0)
    vals = []
    for i, n in enumerate(g["nodes"]):
        op = n["op"]
        ins = [vals[j] for j in n.get("in", [])]
        for j in n.get("in", []):
            if not 0 <= j < i:
                raise ValueError("node %d reads node %d" % (i, j))
        if op == "input":
            y = x
        elif op == "conv":
            y = F.conv2d(ins[0], T(n["weight"]), T(n["bias"]), tuple(n["stride"]),
                         tuple(n["padding"]), tuple(n["dilation"]), n["groups"])
        elif op == "batchnorm":
            C = ins[0].shape[1]
            w, b = per_channel(T(n["weight"]), C), per_channel(T(n["bias"]), C)
            rm, rv = per_channel(T(n["running_mean"]), C), per_channel(T(n["running_var"]), C)
            # FrozenBatchNorm2d's arithmetic (BatchNorm2d eval agrees to rounding)
            scale = w * (rv + n["eps"]).rsqrt()
            y = ins[0] * scale + (b - rm * scale)
        elif op == "layernorm":
            C = ins[0].shape[1]
            y = F.layer_norm(ins[0].permute(0, 2, 3, 1), (C,), T(n["weight"]), T(n["bias"]),
                             n["eps"]).permute(0, 3, 1, 2)
        elif op == "linear":
            y = F.linear(ins[0].permute(0, 2, 3, 1), T(n["weight"]),
                         T(n["bias"])).permute(0, 3, 1, 2)
        elif op == "act":
            y = ACTS[n["fn"]](ins[0])
        elif op in ("add", "mul"):
            a, b = ins
            if a.shape != b.shape:
                small = [t for t in (a, b) if t.shape[2:] == (1, 1)]
                if not small or a.shape[1] != b.shape[1]:
                    raise ValueError("node %d: %s of %s and %s" % (i, op, list(a.shape),
                                                                   list(b.shape)))
            y = a + b if op == "add" else a * b
        elif op == "scale":
            y = ins[0] * per_channel(T(n["weight"]), ins[0].shape[1])
        elif op == "cat":
            y = torch.cat(ins, 1)
        elif op == "maxpool":
            y = F.max_pool2d(ins[0], tuple(n["kernel"]), tuple(n["stride"]), tuple(n["padding"]),
                             tuple(n["dilation"]), n["ceil_mode"])
        elif op == "avgpool":
            y = F.avg_pool2d(ins[0], tuple(n["kernel"]), tuple(n["stride"]), tuple(n["padding"]),
                             n["ceil_mode"], n["count_include_pad"])
        elif op == "adaptive_avgpool":
            y = F.adaptive_avg_pool2d(ins[0], tuple(n["output"]))
        elif op == "adaptive_maxpool":
            y = F.adaptive_max_pool2d(ins[0], tuple(n["output"]))
        elif op == "upsample":
            if len(ins) == 2:
                y = F.interpolate(ins[0], size=ins[1].shape[-2:], mode="nearest")
            else:
                y = F.interpolate(ins[0], scale_factor=tuple(float(s) for s in n["scale"]),
                                  mode="nearest")
        else:
            raise ValueError("node %d: unknown op %r" % (i, op))
        vals.append(y)
    return {o["name"]: vals[o["node"]] for o in g["outputs"]}
