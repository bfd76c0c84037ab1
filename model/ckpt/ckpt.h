/*
 * ckpt.h — safe reader for model weights: PyTorch checkpoints (.pth) holding a
 * state_dict, and safetensors files (vdetect's .vdm model files). Private to
 * model/ (and its tests).
 *
 * Reads both formats torch.save writes (zip, torch >= 1.6; legacy, all torch <
 * 1.6 and _use_new_zipfile_serialization=False) and safetensors. The pickle is interpreted by a
 * minimal VM that knows only the opcodes and the few GLOBALs a state_dict needs;
 * nothing is ever executed or imported. Every size and offset is bounds-checked.
 *
 * What comes out: a flat list of float32 tensors, contiguous, with torchvision
 * key names normalised (see ckpt_load). Tensor data either points into the
 * mapped file or into memory the ckpt owns; it stays valid until ckpt_free().
 */
#ifndef VDETECT_MODEL_CKPT_H
#define VDETECT_MODEL_CKPT_H

#include <stdint.h>
#include <stdio.h>

#define CKPT_MAX_DIMS 8

struct ckpt_tensor {
    const char *name;          /* normalised key, NUL-terminated */
    int ndim;                  /* 0..CKPT_MAX_DIMS */
    int64_t shape[CKPT_MAX_DIMS];
    int64_t numel;
    const float *data;         /* numel floats, contiguous row-major, little-endian host */
};

struct ckpt;

/*
 * Load path. On failure prints one line "checkpoint PATH: PROBLEM" to stderr
 * (naming what was found: an opcode, a GLOBAL, a bad offset, ...) and returns a
 * negative code; *out is then NULL.
 *
 * Accepted: a state_dict (OrderedDict or dict) at top level, or nested under the
 * key "model" or "state_dict" of a top-level dict (a training checkpoint; other
 * entries of that dict may contain anything, which is skipped as inert as long
 * as it uses only the allowed opcodes). Float32 tensors as-is; float16,
 * bfloat16 and float64 converted to float32; integer tensors are dropped (only
 * num_batches_tracked is expected).
 *
 * Key normalisation: a leading "module." is stripped; keys ending in
 * ".num_batches_tracked" are dropped; the pre-0.13 torchvision spellings
 * "rpn.head.conv.{weight,bias}" and "backbone.fpn.{inner,layer}_blocks.N.{weight,bias}"
 * become "rpn.head.conv.0.0.*" and "backbone.fpn.{inner,layer}_blocks.N.0.*".
 */
int ckpt_load(const char *path, struct ckpt **out);
void ckpt_free(struct ckpt **c);

int ckpt_count(const struct ckpt *c);
const struct ckpt_tensor *ckpt_at(const struct ckpt *c, int i);  /* in file order */
const struct ckpt_tensor *ckpt_find(const struct ckpt *c, const char *name); /* NULL if absent */

/* How many backbone.body.*.num_batches_tracked keys the file had (dropped from
 * the tensors): > 0 means the backbone was saved with nn.BatchNorm2d (eps 1e-5),
 * not FrozenBatchNorm2d. */
int ckpt_batchnorm_counters(const struct ckpt *c);

/* "zip", "legacy" or "safetensors" */
const char *ckpt_format(const struct ckpt *c);

/* The value of key in a safetensors file's __metadata__ (vdetect model files
 * keep their architecture under "vdetect"), NUL-terminated; NULL when absent or
 * for .pth files. Valid until ckpt_free(). */
const char *ckpt_metadata(const struct ckpt *c, const char *key);

/* Write c (loaded from path; a safetensors file) to out with __metadata__[key] =
 * value, the tensors byte for byte. 0, or -1 after printing the problem (a .pth
 * has no metadata to carry it). */
int ckpt_write_with_metadata(const struct ckpt *c, const char *path, const char *key,
                             const char *value, FILE *out);

#endif
