//! The twin of the matrix-product family (shaders/matmul/).

/// Where the operands of [`matmul`] are: the meaning of the kernel's `MatmulParams`
/// (shaders/matmul/matmul_params.wgsl). A(i, q) = `a[a_off + i * a_rs + q * a_cs]` and B(q, j) =
/// `b[b_off + q * b_rs + j * b_cs]` for i < m, j < n, q < k (a transpose is only a change of
/// strides); the bias epilogues read bias j at `b[bias_off + j]`; C is m x n row-major.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatmulLayout {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_off: usize,
    pub a_rs: usize,
    pub a_cs: usize,
    pub b_off: usize,
    pub b_rs: usize,
    pub b_cs: usize,
    pub bias_off: usize,
}

/// What [`matmul`] does with each sum s = sum_q A(i, q) B(q, j): the kernel's five
/// epilogues (its `Epilogue`, shaders/matmul/matmul_io.wgsl), with the data they read.
#[derive(Clone, Copy, Debug)]
pub enum MatmulEpilogue<'a> {
    /// max(s + bias_j, 0): a hidden layer's forward product.
    BiasRelu,
    /// s + bias_j: the logits.
    Bias,
    /// s where aux(i, j) > 0, else 0 (aux m x n row-major): backprop through the ReLU.
    MaskPositive { aux: &'a [f64] },
    /// scale * s: the mean gradient d^T a.
    Scale { scale: f64 },
    /// prior(i, j) + scale * s (prior m x n row-major, C's contents before the product):
    /// a gradient accumulated over row chunks.
    ScaleAdd { prior: &'a [f64], scale: f64 },
}

/// Kernel `matmul` (shaders/matmul/matmul.wgsl, the tiled variant, and shaders/matmul_cpu*.wgsl,
/// the CPU variant's layouts), and `matmul_sparse` (shaders/matmul/matmul_sparse.wgsl, which
/// skips zero inputs: the same sums): C = epilogue(A B) with the strides of `l`. Returns C,
/// m x n row-major.
pub fn matmul(a: &[f64], b: &[f64], l: &MatmulLayout, epilogue: MatmulEpilogue<'_>) -> Vec<f64> {
    let mut c = vec![0.0; l.m * l.n];
    for i in 0..l.m {
        for j in 0..l.n {
            let mut s = 0.0;
            for q in 0..l.k {
                s += a[l.a_off + i * l.a_rs + q * l.a_cs] * b[l.b_off + q * l.b_rs + j * l.b_cs];
            }
            let bias = || b[l.bias_off + j];
            c[i * l.n + j] = match epilogue {
                MatmulEpilogue::BiasRelu => (s + bias()).max(0.0),
                MatmulEpilogue::Bias => s + bias(),
                MatmulEpilogue::MaskPositive { aux } => {
                    if aux[i * l.n + j] <= 0.0 {
                        0.0
                    } else {
                        s
                    }
                }
                MatmulEpilogue::Scale { scale } => scale * s,
                MatmulEpilogue::ScaleAdd { prior, scale } => prior[i * l.n + j] + scale * s,
            };
        }
    }
    c
}

/// `Matmul::gram`: X X^T (rows x rows, row-major) for the `rows` rows of X (rows x width,
/// row-major): the inner products of every pair of rows. The matrix product with A = X and
/// B = X^T.
pub fn gram(x: &[f64], rows: usize, width: usize) -> Vec<f64> {
    let l = MatmulLayout {
        m: rows,
        n: rows,
        k: width,
        a_rs: width,
        a_cs: 1,
        b_rs: 1,
        b_cs: width,
        ..Default::default()
    };
    matmul(x, x, &l, MatmulEpilogue::Scale { scale: 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_strides_offsets_and_epilogues() {
        // A = [[1, 2], [3, 4]] stored transposed after one junk value; B = [[1, -1], [2, 0]]
        // row-major after two junk values, biases (10, -20) after it
        let a = [9.0, 1.0, 3.0, 2.0, 4.0];
        let b = [9.0, 9.0, 1.0, -1.0, 2.0, 0.0, 10.0, -20.0];
        let l = MatmulLayout {
            m: 2,
            n: 2,
            k: 2,
            a_off: 1,
            a_rs: 1,
            a_cs: 2,
            b_off: 2,
            b_rs: 2,
            b_cs: 1,
            bias_off: 6,
        };
        // A B = [[5, -1], [11, -3]]
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::Scale { scale: 1.0 }),
            [5.0, -1.0, 11.0, -3.0]
        );
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::Bias),
            [15.0, -21.0, 21.0, -23.0]
        );
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::BiasRelu),
            [15.0, 0.0, 21.0, 0.0]
        );
        let aux = [1.0, 1.0, 0.0, -0.5];
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::MaskPositive { aux: &aux }),
            [5.0, -1.0, 0.0, 0.0]
        );
        let prior = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            matmul(
                &a,
                &b,
                &l,
                MatmulEpilogue::ScaleAdd {
                    prior: &prior,
                    scale: 0.5
                }
            ),
            [3.5, 1.5, 8.5, 2.5]
        );
    }
}
