// Bindings and epilogue shared by matmul.wgsl and matmul_cpu.wgsl (prepended after
// matmul_params.wgsl).

// 0: + bias, ReLU   1: + bias   2: zero where aux <= 0   3: * scale   4: C + (* scale)
// (4 accumulates a gradient over row chunks of a batch too large for one dispatch)
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// Applies the epilogue to the sum `acc` of output (m, n) and stores it; skips outputs
// outside C.
fn store(m: u32, n: u32, acc: f32) {
    if (m >= p.m || n >= p.n) {
        return;
    }
    var v = acc;
    switch MODE {
        case 0u: {
            v = max(v + B[ro(1u) + p.bias_off + n], 0.0);
        }
        case 1u: {
            v = v + B[ro(1u) + p.bias_off + n];
        }
        case 2u: {
            if (aux[ro(2u) + m * p.n + n] <= 0.0) {
                v = 0.0;
            }
        }
        case 3u: {
            v = v * p.scale;
        }
        default: {
            v = C[ro(3u) + m * p.n + n] + v * p.scale;
        }
    }
    C[ro(3u) + m * p.n + n] = v;
}
