package arch

import (
	"fmt"
	"math"

	"github.com/advmatrix/advmatrix/models/onnxgraph"
)

// The vit reference architecture: a small Vision Transformer in the layout
// of torchvision's VisionTransformer (pre-norm encoder layers, class token,
// learned position embedding, exact GELU), so that transfer experiments can
// mix CNN and ViT members.
const (
	vitDim    = 64 // hidden size
	vitHeads  = 4  // head size 16: the attention scale 1/4 is exact in float32
	vitDepth  = 4  // encoder layers
	vitMLPDim = 128
	vitLNEps  = 1e-6 // torchvision's ViT LayerNorm ε
)

// vitPatch is the patch size for an H×W image: 7 when it tiles the image
// (28×28 → 4×4 patches), else 4 (32×32 → 8×8). A remainder is dropped,
// as the strided convolution does.
func vitPatch(h, w int) int {
	if h%7 == 0 && w%7 == 0 {
		return 7
	}
	return 4
}

// buildViT is a Vision Transformer for C×H×W images at opset 17:
//
//	conv_proj (patch p, stride p) → tokens N×L×D → prepend the class token
//	→ + encoder.pos_embedding → vitDepth × [x + MHA(LN(x)); x + MLP(LN(x))]
//	→ encoder.ln → class token → heads.head
//
// with D = 64, 4 heads of 16, MLP 128 with exact GELU, LayerNorm ε 1e-6,
// no dropout. Multi-head attention is Gemm projections (in_proj 3D×D,
// out_proj D×D, weights stored as PyTorch's nn.MultiheadAttention stores
// them), batched MatMul and Softmax; GELU is spelled as PyTorch exports it
// before opset 20 (Div √2, Erf, Add 1, Mul, Mul ½). The class token is
// prepended by padding the token sequence with a zero row and adding the
// class token padded to the sequence's length, which is Concat with a
// batch-sized Expand without the shape arithmetic.
//
// Initialisation as PyTorch's defaults (torch.nn, not torchvision's
// ViT-specific scheme): Conv and Linear weights and biases U(±1/√fan_in),
// LayerNorm (1, 0), class token 0, position embedding N(0, 0.02²) (as
// torchvision draws it).
func buildViT(n *net, classes int) {
	n.gb.SetOpset(17)
	p := vitPatch(n.shape[1], n.shape[2])
	n.conv("conv_proj", vitDim, p, p, 0, 1, true)
	if n.err != nil {
		return
	}
	seq := n.shape[1]*n.shape[2] + 1
	d := vitDim
	gb := n.gb
	ints := func(name string, v ...int64) string {
		gb.IntInitializer(name, []int{len(v)}, v)
		return name
	}
	// Shapes and constants shared by every layer.
	ints("vit.shape_tokens", 0, int64(d), -1)
	ints("vit.shape_rows", -1, int64(d))
	ints("vit.shape_seq", -1, int64(seq), int64(d))
	ints("vit.shape_heads", -1, int64(seq), vitHeads, int64(d/vitHeads))
	ints("vit.shape_mlp_rows", -1, int64(vitMLPDim))
	ints("vit.qkv_split", int64(d), int64(d), int64(d))
	ints("vit.pad_front", 0, 1, 0, 0, 0, 0)
	ints("vit.pad_class", 0, 0, 0, 0, int64(seq-1), 0)
	gb.IntInitializer("vit.class_index", nil, []int64{0})
	gb.Constant("vit.attn_scale", nil, []float32{float32(1 / math.Sqrt(float64(d/vitHeads)))})
	gb.Constant("vit.sqrt2", nil, []float32{float32(math.Sqrt2)})
	gb.Constant("vit.one", nil, []float32{1})
	gb.Constant("vit.half", nil, []float32{0.5})

	x := gb.Node("Reshape", []string{n.x, "vit.shape_tokens"}, []string{"conv_proj.flat"})
	x = gb.Node("Transpose", []string{x}, []string{"tokens"}, onnxgraph.Ints("perm", 0, 2, 1))
	x = gb.Node("Pad", []string{x, "vit.pad_front"}, []string{"tokens.padded"}, onnxgraph.String("mode", "constant"))
	gb.Initializer("class_token", []int{1, 1, d}, make([]float32, d))
	cls := gb.Node("Pad", []string{"class_token", "vit.pad_class"}, []string{"class_token.padded"}, onnxgraph.String("mode", "constant"))
	x = gb.Node("Add", []string{x, cls}, []string{"tokens.with_class"})
	pos := make([]float32, seq*d)
	for i := range pos {
		pos[i] = float32(0.02 * n.r.NormFloat64())
	}
	gb.Initializer("encoder.pos_embedding", []int{1, seq, d}, pos)
	x = gb.Node("Add", []string{x, "encoder.pos_embedding"}, []string{"encoder.input"})

	for i := 0; i < vitDepth; i++ {
		x = vitEncoderLayer(n, fmt.Sprintf("encoder.layers.encoder_layer_%d.", i), x)
	}
	x = vitLayerNorm(n, "encoder.ln", x)
	n.x = gb.Node("Gather", []string{x, "vit.class_index"}, []string{"encoder.class_token"}, onnxgraph.Int("axis", 1))
	n.shape = []int{d}
	n.linear("heads.head", classes)
}

// vitLayerNorm is LayerNormalization over the hidden axis with PyTorch's
// default parameters.
func vitLayerNorm(n *net, name, x string) string {
	n.gb.Initializer(name+".weight", []int{vitDim}, fill(vitDim, 1))
	n.gb.Initializer(name+".bias", []int{vitDim}, make([]float32, vitDim))
	return n.gb.Node("LayerNormalization", []string{x, name + ".weight", name + ".bias"}, []string{name},
		onnxgraph.Int("axis", -1), onnxgraph.Float("epsilon", vitLNEps))
}

// vitLinear is an nn.Linear applied to the rows of a (tokens × in) matrix.
func vitLinear(n *net, name, weight, bias, x string, in, out int) string {
	bound := 1 / math.Sqrt(float64(in))
	n.gb.Initializer(weight, []int{out, in}, n.uniform(out*in, bound))
	n.gb.Initializer(bias, []int{out}, n.uniform(out, bound))
	return n.gb.Node("Gemm", []string{x, weight, bias}, []string{name}, onnxgraph.Float("alpha", 1), onnxgraph.Float("beta", 1), onnxgraph.Int("transB", 1))
}

func vitEncoderLayer(n *net, p, x string) string {
	gb := n.gb
	d := vitDim
	// Self-attention.
	h := vitLayerNorm(n, p+"ln_1", x)
	h = gb.Node("Reshape", []string{h, "vit.shape_rows"}, []string{p + "ln_1.rows"})
	a := p + "self_attention."
	qkv := vitLinear(n, a+"in_proj", a+"in_proj_weight", a+"in_proj_bias", h, d, 3*d)
	gb.Node("Split", []string{qkv, "vit.qkv_split"}, []string{a + "q.rows", a + "k.rows", a + "v.rows"}, onnxgraph.Int("axis", 1))
	heads := func(t string, perm ...int64) string {
		r := gb.Node("Reshape", []string{a + t + ".rows", "vit.shape_heads"}, []string{a + t + ".heads"})
		return gb.Node("Transpose", []string{r}, []string{a + t}, onnxgraph.Ints("perm", perm...))
	}
	q := heads("q", 0, 2, 1, 3)  // N×H×L×16
	kt := heads("k", 0, 2, 3, 1) // N×H×16×L
	v := heads("v", 0, 2, 1, 3)
	s := gb.Node("MatMul", []string{q, kt}, []string{a + "scores"})
	s = gb.Node("Mul", []string{s, "vit.attn_scale"}, []string{a + "scores.scaled"})
	s = gb.Node("Softmax", []string{s}, []string{a + "weights"}, onnxgraph.Int("axis", -1))
	o := gb.Node("MatMul", []string{s, v}, []string{a + "heads_out"})
	o = gb.Node("Transpose", []string{o}, []string{a + "tokens_out"}, onnxgraph.Ints("perm", 0, 2, 1, 3))
	o = gb.Node("Reshape", []string{o, "vit.shape_rows"}, []string{a + "rows_out"})
	o = vitLinear(n, a+"out_proj", a+"out_proj.weight", a+"out_proj.bias", o, d, d)
	o = gb.Node("Reshape", []string{o, "vit.shape_seq"}, []string{p + "self_attention"})
	x = gb.Node("Add", []string{x, o}, []string{p + "attention_residual"})
	// MLP.
	h = vitLayerNorm(n, p+"ln_2", x)
	h = gb.Node("Reshape", []string{h, "vit.shape_rows"}, []string{p + "ln_2.rows"})
	h = vitLinear(n, p+"mlp.0", p+"mlp.0.weight", p+"mlp.0.bias", h, d, vitMLPDim)
	g := gb.Node("Div", []string{h, "vit.sqrt2"}, []string{p + "mlp.1.scaled"})
	g = gb.Node("Erf", []string{g}, []string{p + "mlp.1.erf"})
	g = gb.Node("Add", []string{g, "vit.one"}, []string{p + "mlp.1.erf1"})
	g = gb.Node("Mul", []string{h, g}, []string{p + "mlp.1.x_erf1"})
	g = gb.Node("Mul", []string{g, "vit.half"}, []string{p + "mlp.1"})
	h = vitLinear(n, p+"mlp.3", p+"mlp.3.weight", p+"mlp.3.bias", g, vitMLPDim, d)
	h = gb.Node("Reshape", []string{h, "vit.shape_seq"}, []string{p + "mlp"})
	return gb.Node("Add", []string{x, h}, []string{p + "output"})
}
