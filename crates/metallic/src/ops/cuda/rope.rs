//! NeoX-style rotary position embedding, in place.

use super::{blocks_for, check_float, check_rows, key, BatchIndices, BLOCK};
use crate::device::cuda::{launch, u32_of, Arg, CudaBuffer, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

static SOURCE: KernelSource = KernelSource {
    name: "rope",
    text: include_str!("rope.cu"),
};

/// Where the heads of each token lie in the buffer (in elements).
#[derive(Clone, Copy, Debug)]
pub struct RopeShape {
    pub tokens: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub token_stride: usize,
    pub head_stride: usize,
}

/// Rotates each head of each token in place: element i pairs with
/// i + head_dim/2, by angle positions[token] · base^(-2i/head_dim).
pub fn rope(
    x: &mut CudaBuffer,
    act: DType,
    shape: RopeShape,
    positions: &BatchIndices,
    base: f32,
) -> Result<()> {
    check_float(act, "rope")?;
    let RopeShape {
        tokens,
        heads,
        head_dim,
        token_stride,
        head_stride,
    } = shape;
    if head_dim % 2 != 0 || !(base > 0.0 && base.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "rope: head_dim {head_dim} must be even and base {base} positive"
        )));
    }
    if head_stride < head_dim && heads > 1 {
        return Err(Error::InvalidArgument(format!(
            "rope: head stride {head_stride} below head_dim {head_dim}"
        )));
    }
    if heads == 0 || tokens == 0 || head_dim == 0 {
        return Ok(());
    }
    let token_span = (heads - 1)
        .checked_mul(head_stride)
        .and_then(|v| v.checked_add(head_dim))
        .ok_or_else(|| Error::Shape("rope: head offsets overflow".into()))?;
    if tokens > 1 && token_stride < token_span {
        return Err(Error::InvalidArgument(format!(
            "rope: token stride {token_stride} below the heads' span {token_span}"
        )));
    }
    check_rows(x, act, tokens, token_span, token_stride, "rope x")?;
    if positions.seq() != tokens {
        return Err(Error::InvalidArgument(format!(
            "rope: positions of {} tokens for {tokens}",
            positions.seq()
        )));
    }
    let device = x.device().clone();
    positions.check_device(&device, "rope")?;
    let args = [
        Arg::Ptr(x.device_ptr()),
        Arg::U32(u32_of(tokens, "tokens")?),
        Arg::U32(u32_of(heads, "heads")?),
        Arg::U32(u32_of(head_dim, "head_dim")?),
        Arg::U32(u32_of(token_stride, "token stride")?),
        Arg::U32(u32_of(head_stride, "head stride")?),
        Arg::Ptr(positions.positions_ptr()),
        Arg::F32(base),
    ];
    // SAFETY: the arguments follow `rope` in rope.cu; every (token, head)
    // span was checked to lie inside the buffer, and `positions` holds one
    // position per token.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "rope", act, act),
            (blocks_for(tokens * heads * head_dim / 2), 1, 1),
            BLOCK,
            &args,
        )
    }
}
