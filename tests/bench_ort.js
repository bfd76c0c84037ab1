// bench_ort.js — time an ONNX export of the benchmark's model in ONNX Runtime
// (npm onnxruntime-node) on the same image and thread count as vdetect and
// PyTorch, for make bench.
// usage: node bench_ort.js MODEL.onnx IMAGE.rgb W H THREADS FRAMES WARMUP
// IMAGE.rgb holds raw RGB24 bytes. Prints one JSON object.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
    const [model, rgbPath, w, h, threads, frames, warmup] = process.argv.slice(2);
    const W = +w, H = +h, n = +frames, nw = +warmup;
    const rgb = fs.readFileSync(rgbPath);
    const x = new Float32Array(3 * W * H);
    for (let i = 0; i < W * H; i++)
        for (let c = 0; c < 3; c++) x[c * W * H + i] = rgb[3 * i + c] / 255;
    const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: +threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
    const feeds = { image: new ort.Tensor('float32', x, [3, H, W]) };
    const times = [];
    let out;
    for (let i = 0; i < nw + n; i++) {
        const t = process.hrtime.bigint();
        out = await session.run(feeds);
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (i >= nw) times.push(ms);
    }
    times.sort((a, b) => a - b);
    const med = times.length % 2 ? times[(times.length - 1) / 2]
        : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
    console.log(JSON.stringify({ median_ms: med, threads: +threads,
        detections: out.scores.dims[0], ort: require('onnxruntime-node/package.json').version }));
}
main().catch((e) => { console.error('bench_ort: ' + e.message); process.exit(1); });
