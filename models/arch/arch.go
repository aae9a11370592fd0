package arch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/onnxgraph"
)

// archBuilders are the reference architectures, in the order Architectures
// lists them.
var archBuilders = []struct {
	name  string
	build func(n *net, classes int)
}{
	{"mlp", buildMLP},
	{"lenet", buildLeNet},
	{"resnet", buildResNet},
	{"vgg", buildVGG},
	{"mobilenet", buildMobileNet},
	{"vit", buildViT}, // arch_vit.go
}

// maxArchInput bounds C·H·W of one image for Build (a 3×512×512 image fits).
const maxArchInput = 1 << 20

// MaxClasses bounds the number of classes of a model Build makes (and of
// the datasets package's data), far above ImageNet-21k's 21841: a class
// count taken from a corrupt label must fail, not allocate its weights.
const MaxClasses = 1 << 16

// Architectures lists the names Build accepts.
func Architectures() []string {
	out := make([]string, len(archBuilders))
	for i, a := range archBuilders {
		out[i] = a.name
	}
	return out
}

// Build makes a freshly initialised reference architecture, for training,
// as an ONNX graph (opset 13, vit 17; symbolic batch axis) for C×H×W images
// (inShape) and the given number of classes. It takes raw images in [0,1]
// — there is no normalisation layer — and outputs N×classes logits.
//
// Weights are initialised as PyTorch's defaults do: Conv and Linear weights
// by kaiming_uniform(a=√5) and biases by U(±1/√fan_in), both of which come
// to U(±1/√fan_in); BatchNorm scale 1, shift 0, running mean 0, running
// variance 1, ε = 1e-5, momentum 0.9 (ONNX's convention for PyTorch's 0.1).
// Convolutions followed by BatchNorm have no bias, as in torchvision. The
// same arguments give byte-identical models (WriteONNX): the draws come
// from a PCG source seeded by seed, in parameter order.
//
// Parameter names follow PyTorch's state_dict ("conv1.weight",
// "layer2.0.bn1.running_var") and each layer's output tensor is named after
// its module ("layer2.0.relu2"), for Activations and VJPAt.
//
//   - mlp: Flatten, Gemm 256, Relu, Gemm 128, Relu, Gemm classes.
//   - lenet: Conv 6 k5 pad 2, Relu, MaxPool 2, Conv 16 k5, Relu, MaxPool 2,
//     Flatten, Gemm 120, Relu, Gemm 84, Relu, Gemm classes.
//   - resnet: CIFAR-style ResNet-8: conv3×3 16, BN, Relu, one BasicBlock per
//     stage with 16/32/64 channels and strides 1/2/2 (1×1 conv + BN
//     projection shortcut where the shape changes), GlobalAveragePool,
//     Flatten, Gemm classes.
//   - vgg: two stages (32, 64 channels) of [conv3×3, BN, Relu] ×2 and
//     MaxPool 2, Flatten, Gemm 128, Relu, Dropout 0.5, Gemm classes.
//   - mobilenet: conv3×3 16, BN, Clip(0,6), three depthwise-separable blocks
//     (depthwise 3×3, BN, Clip(0,6), pointwise 1×1, BN, Clip(0,6)) with
//     32/64/128 channels and strides 2/2/1, GlobalAveragePool, Flatten,
//     Gemm classes.
//   - vit: a Vision Transformer in torchvision's layout — patch 7 (28×28)
//     or 4 (32×32) convolution, class token, position embedding, 4
//     pre-norm encoder layers of width 64 with 4 heads and an MLP of 128
//     with exact GELU, LayerNorm, the class token into Gemm classes (see
//     buildViT, which also says how it is initialised).
func Build(arch string, inShape []int, classes int, seed uint64) (*models.Model, error) {
	b, err := buildArch(arch, inShape, classes, seed)
	if err != nil {
		return nil, err
	}
	m, err := b.Load()
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", arch, err)
	}
	return m, nil
}

func buildArch(arch string, inShape []int, classes int, seed uint64) (*onnxgraph.Builder, error) {
	var build func(*net, int)
	for _, a := range archBuilders {
		if a.name == arch {
			build = a.build
		}
	}
	if build == nil {
		return nil, fmt.Errorf("unknown architecture %q (known: %s)", arch, strings.Join(Architectures(), ", "))
	}
	if len(inShape) != 3 {
		return nil, fmt.Errorf("%s: input shape %v: want C×H×W", arch, inShape)
	}
	size := 1
	for _, d := range inShape {
		if d < 1 || d > maxArchInput {
			return nil, fmt.Errorf("%s: input shape %v: every dimension must be between 1 and %d", arch, inShape, maxArchInput)
		}
		size *= d
		if size > maxArchInput {
			return nil, fmt.Errorf("%s: input shape %v has more than %d elements", arch, inShape, maxArchInput)
		}
	}
	if classes < 2 {
		return nil, fmt.Errorf("%s: %d classes; a classifier needs at least 2", arch, classes)
	}
	if classes > MaxClasses {
		return nil, fmt.Errorf("%s: %d classes; at most %d are supported", arch, classes, MaxClasses)
	}
	n := &net{gb: onnxgraph.New(arch), r: rand.New(rand.NewPCG(seed, 0x61726368)), arch: arch, in: inShape,
		x: "x", shape: append([]int(nil), inShape...)}
	n.gb.Input("x", onnxgraph.Batch, inShape[0], inShape[1], inShape[2])
	build(n, classes)
	if n.err != nil {
		return nil, n.err
	}
	n.gb.Output(n.x, onnxgraph.Batch, classes)
	return n.gb, nil
}

// net tracks the current tensor of a sequential graph under construction
// and its shape for one image.
type net struct {
	gb    *onnxgraph.Builder
	r     *rand.Rand
	arch  string
	in    []int
	x     string
	shape []int
	err   error

	clipBounds bool // relu6.min and relu6.max defined
}

func (n *net) uniform(count int, bound float64) []float32 {
	v := make([]float32, count)
	for i := range v {
		v[i] = float32(bound * (2*n.r.Float64() - 1))
	}
	return v
}

func fill(count int, x float32) []float32 {
	v := make([]float32, count)
	for i := range v {
		v[i] = x
	}
	return v
}

func ints64(v ...int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// spatial computes a window op's output size and records an error when the
// image is too small for the architecture.
func (n *net) spatial(name string, k, stride, pad int) (int, int) {
	h := (n.shape[1]+2*pad-k)/stride + 1
	w := (n.shape[2]+2*pad-k)/stride + 1
	if (n.shape[1]+2*pad < k || n.shape[2]+2*pad < k) && n.err == nil {
		n.err = fmt.Errorf("%s: input %d×%d×%d is too small: layer %s needs at least %d×%d, gets %d×%d",
			n.arch, n.in[0], n.in[1], n.in[2], name, k, k, n.shape[1]+2*pad, n.shape[2]+2*pad)
	}
	return h, w
}

// conv adds a k×k convolution, with a bias unless BatchNorm follows.
func (n *net) conv(name string, out, k, stride, pad, groups int, bias bool) {
	if n.err != nil {
		return
	}
	c := n.shape[0]
	h, w := n.spatial(name, k, stride, pad)
	bound := 1 / math.Sqrt(float64(c/groups*k*k))
	n.gb.Initializer(name+".weight", []int{out, c / groups, k, k}, n.uniform(out*c/groups*k*k, bound))
	ins := []string{n.x, name + ".weight"}
	if bias {
		n.gb.Initializer(name+".bias", []int{out}, n.uniform(out, bound))
		ins = append(ins, name+".bias")
	}
	n.x = n.gb.Node("Conv", ins, []string{name}, onnxgraph.Ints("dilations", 1, 1), onnxgraph.Int("group", int64(groups)),
		onnxgraph.Ints("kernel_shape", ints64(k, k)...), onnxgraph.Ints("pads", ints64(pad, pad, pad, pad)...),
		onnxgraph.Ints("strides", ints64(stride, stride)...))
	n.shape = []int{out, h, w}
}

func (n *net) batchNorm(name string) {
	if n.err != nil {
		return
	}
	c := n.shape[0]
	ins := []string{n.x}
	for _, p := range []struct {
		suffix string
		v      float32
	}{{".weight", 1}, {".bias", 0}, {".running_mean", 0}, {".running_var", 1}} {
		n.gb.Initializer(name+p.suffix, []int{c}, fill(c, p.v))
		ins = append(ins, name+p.suffix)
	}
	n.x = n.gb.Node("BatchNormalization", ins, []string{name}, onnxgraph.Float("epsilon", 1e-5), onnxgraph.Float("momentum", 0.9))
}

func (n *net) relu(name string) {
	if n.err == nil {
		n.x = n.gb.Node("Relu", []string{n.x}, []string{name})
	}
}

// relu6 is Clip(0, 6), torch.nn.ReLU6 as exported at opset 13.
func (n *net) relu6(name string) {
	if n.err != nil {
		return
	}
	if !n.clipBounds {
		n.gb.Initializer("relu6.min", nil, []float32{0})
		n.gb.Initializer("relu6.max", nil, []float32{6})
		n.clipBounds = true
	}
	n.x = n.gb.Node("Clip", []string{n.x, "relu6.min", "relu6.max"}, []string{name})
}

func (n *net) maxPool(name string) {
	if n.err != nil {
		return
	}
	h, w := n.spatial(name, 2, 2, 0)
	n.x = n.gb.Node("MaxPool", []string{n.x}, []string{name}, onnxgraph.Ints("kernel_shape", 2, 2), onnxgraph.Ints("strides", 2, 2))
	n.shape = []int{n.shape[0], h, w}
}

func (n *net) globalAvgPool(name string) {
	if n.err == nil {
		n.x = n.gb.Node("GlobalAveragePool", []string{n.x}, []string{name})
		n.shape = []int{n.shape[0], 1, 1}
	}
}

func (n *net) flatten(name string) {
	if n.err == nil {
		n.x = n.gb.Node("Flatten", []string{n.x}, []string{name}, onnxgraph.Int("axis", 1))
		n.shape = []int{numel(n.shape)}
	}
}

// linear is torch.nn.Linear: Gemm with the weight stored out×in (transB).
func (n *net) linear(name string, out int) {
	if n.err != nil {
		return
	}
	in := n.shape[0]
	bound := 1 / math.Sqrt(float64(in))
	n.gb.Initializer(name+".weight", []int{out, in}, n.uniform(out*in, bound))
	n.gb.Initializer(name+".bias", []int{out}, n.uniform(out, bound))
	n.x = n.gb.Node("Gemm", []string{n.x, name + ".weight", name + ".bias"}, []string{name},
		onnxgraph.Float("alpha", 1), onnxgraph.Float("beta", 1), onnxgraph.Int("transB", 1))
	n.shape = []int{out}
}

// dropout is an opset-13 Dropout with its ratio as a constant input; it is
// the identity unless run in training mode.
func (n *net) dropout(name string, p float32) {
	if n.err == nil {
		n.gb.Initializer(name+".ratio", nil, []float32{p})
		n.x = n.gb.Node("Dropout", []string{n.x, name + ".ratio"}, []string{name})
	}
}

func buildMLP(n *net, classes int) {
	n.flatten("flatten")
	n.linear("fc1", 256)
	n.relu("relu1")
	n.linear("fc2", 128)
	n.relu("relu2")
	n.linear("fc3", classes)
}

func buildLeNet(n *net, classes int) {
	n.conv("conv1", 6, 5, 1, 2, 1, true)
	n.relu("relu1")
	n.maxPool("pool1")
	n.conv("conv2", 16, 5, 1, 0, 1, true)
	n.relu("relu2")
	n.maxPool("pool2")
	n.flatten("flatten")
	n.linear("fc1", 120)
	n.relu("relu3")
	n.linear("fc2", 84)
	n.relu("relu4")
	n.linear("fc3", classes)
}

// buildResNet is a CIFAR-style ResNet-8 with BasicBlocks.
func buildResNet(n *net, classes int) {
	n.conv("conv1", 16, 3, 1, 1, 1, false)
	n.batchNorm("bn1")
	n.relu("relu")
	for i, st := range []struct{ ch, stride int }{{16, 1}, {32, 2}, {64, 2}} {
		p := fmt.Sprintf("layer%d.0.", i+1)
		in, inShape := n.x, n.shape
		n.conv(p+"conv1", st.ch, 3, st.stride, 1, 1, false)
		n.batchNorm(p + "bn1")
		n.relu(p + "relu1")
		n.conv(p+"conv2", st.ch, 3, 1, 1, 1, false)
		n.batchNorm(p + "bn2")
		res, resShape := n.x, n.shape
		short := in
		if st.stride != 1 || inShape[0] != st.ch {
			n.x, n.shape = in, inShape
			n.conv(p+"shortcut.0", st.ch, 1, st.stride, 0, 1, false)
			n.batchNorm(p + "shortcut.1")
			short = n.x
		}
		if n.err != nil {
			return
		}
		n.x = n.gb.Node("Add", []string{res, short}, []string{p + "add"})
		n.shape = resShape
		n.relu(p + "relu2")
	}
	n.globalAvgPool("avgpool")
	n.flatten("flatten")
	n.linear("linear", classes)
}

func buildVGG(n *net, classes int) {
	k := 0
	for _, ch := range []int{32, 64} {
		for range 2 {
			n.conv(fmt.Sprintf("features.%d", k), ch, 3, 1, 1, 1, false)
			n.batchNorm(fmt.Sprintf("features.%d", k+1))
			n.relu(fmt.Sprintf("features.%d", k+2))
			k += 3
		}
		n.maxPool(fmt.Sprintf("features.%d", k))
		k++
	}
	n.flatten("flatten")
	n.linear("classifier.0", 128)
	n.relu("classifier.1")
	n.dropout("classifier.2", 0.5)
	n.linear("classifier.3", classes)
}

func buildMobileNet(n *net, classes int) {
	n.conv("stem.0", 16, 3, 1, 1, 1, false)
	n.batchNorm("stem.1")
	n.relu6("stem.2")
	for i, st := range []struct{ ch, stride int }{{32, 2}, {64, 2}, {128, 1}} {
		p := fmt.Sprintf("blocks.%d.", i)
		n.conv(p+"0", n.shape[0], 3, st.stride, 1, n.shape[0], false) // depthwise
		n.batchNorm(p + "1")
		n.relu6(p + "2")
		n.conv(p+"3", st.ch, 1, 1, 0, 1, false) // pointwise
		n.batchNorm(p + "4")
		n.relu6(p + "5")
	}
	n.globalAvgPool("avgpool")
	n.flatten("flatten")
	n.linear("classifier", classes)
}

// numel is the number of elements of a tensor of the given shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
