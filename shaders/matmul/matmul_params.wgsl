// Parameters shared by the matrix-product kernels (prepended to each of them).
// A(m, k) = A[a_off + m*a_rs + k*a_cs], B(k, n) = B[b_off + k*b_rs + n*b_cs], C is m x n
// row-major; a transpose is only a change of strides.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_off: u32,
    a_rs: u32,
    a_cs: u32,
    b_off: u32,
    b_rs: u32,
    b_cs: u32,
    bias_off: u32,
    scale: f32,
    _pad: u32,
}

