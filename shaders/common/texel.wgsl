// Reads of a buffer range mirrored in an rgba32float texture (src/gpu/kernels/mirror.rs):
// texel i holds floats 4i..4i+3 of the range, at (i % width, i / width) with a power-of-two
// width, so a shift and a mask find it (a vector integer division costs a loop over the
// lanes on a CPU driver). Prepended to the kernels of the plan's `Operands::Textures`.

fn texel(t: texture_2d<f32>, i: u32) -> vec4<f32> {
    let w = textureDimensions(t).x;
    return textureLoad(t, vec2<u32>(i & (w - 1u), i >> countTrailingZeros(w)), 0);
}
