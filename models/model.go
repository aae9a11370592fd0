package models

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/advmatrix/advmatrix/internal/atomicfile"
	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"github.com/advmatrix/advmatrix/internal/safeio"
)

// Classifier is what attacks and evaluations need from an image classifier:
// logits, and vector–Jacobian products through them. Images are float32
// NCHW in [0,1]; the batch size is len(x) / (C·H·W). Implementations must
// be safe for concurrent use and must not retain or modify x.
type Classifier interface {
	// InputShape is the shape of one image, C×H×W.
	InputShape() []int
	// NumClasses is the number of logits per image.
	NumClasses() int
	// Logits writes the n×NumClasses logits of x into dst.
	Logits(dst, x []float32) error
	// Grad evaluates the model at x, calls seed with the logits z and a
	// zeroed buffer dz to fill with the cotangent ∂L/∂z, and writes
	// (∂z/∂x)ᵀ dz into dx. seed must not keep z or dz after it returns.
	Grad(dx, x []float32, seed func(z, dz []float32)) error
}

// DefaultMaxTensorElements bounds any one tensor of an untrusted model
// (initializer, constant or intermediate): 2^28 elements, 1 GiB of float32.
const DefaultMaxTensorElements = 1 << 28

// MaxModelBytes bounds the size of an ONNX file LoadFile and InspectFile
// read: protobuf's own limit, beyond which exporters move the weights to
// external data files.
const MaxModelBytes = 1 << 31

// Option configures Load.
type Option func(*loadOptions)

// WithMaxTensorElements changes the per-tensor size limit.
func WithMaxTensorElements(n int64) Option { return func(o *loadOptions) { o.maxElements = n } }

// AllowNonFinite lets a model with NaN or infinite weights load, for
// looking into a broken model; by default they are an error naming the
// initializer (see Load).
func AllowNonFinite() Option { return func(o *loadOptions) { o.allowNonFinite = true } }

// Model is an ONNX image classifier compiled for execution. Its methods are
// safe for concurrent use: each call borrows a program compiled for its
// batch size (compiling one the first time a shape is seen) and returns it.
type Model struct {
	proto *pb.ModelProto
	g     *graph
	opt   loadOptions

	inShape []int // C,H,W
	classes int

	mu      sync.RWMutex // guards params' values and version
	version uint64

	poolMu sync.Mutex
	pool   map[progKey][]*program[float32]
}

type progMode uint8

const (
	modeForward progMode = iota
	modeInputGrad
	modeParamGrad
	modeTrain // parameter gradients, BatchNorm on batch statistics, Dropout active
	// Every tensor keeps its own memory, so that any can be read after the
	// pass (Activations) or seeded (VJPAt).
	modeInspect
	modeInspectGrad
)

type progKey struct {
	batch int
	mode  progMode
}

// LoadFile reads an ONNX model. External tensor data is read only from
// files inside the model's folder. path must name a regular file of at
// most MaxModelBytes.
func LoadFile(path string, opts ...Option) (*Model, error) {
	b, err := ReadModelFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	m, err := load(b, filepath.Dir(path), opts)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return m, nil
}

// ReadModelFile reads the bytes of an ONNX file the way LoadFile does:
// only a regular file (not a FIFO or a device such as /dev/zero) of at
// most MaxModelBytes. Callers that hash a model before loading it should
// read it with this.
func ReadModelFile(path string) ([]byte, error) {
	return safeio.ReadFile(path, MaxModelBytes)
}

// Load reads an ONNX model from memory (external data is refused).
//
// Untrusted models are bounded: every tensor has at most
// DefaultMaxTensorElements elements (see WithMaxTensorElements). A float
// initializer holding NaN, or a weight (a float32 initializer used as data)
// holding ±Inf, is an error naming the initializer, unless AllowNonFinite
// is given: such a model computes NaN logits, which evaluations would
// count as wrong answers and attacks as zero gradients, silently. (Infinite
// constants read at compile time, such as Clip bounds, are allowed.)
func Load(data []byte, opts ...Option) (*Model, error) {
	return load(data, "", opts)
}

func load(data []byte, dir string, opts []Option) (*Model, error) {
	o := loadOptions{maxElements: DefaultMaxTensorElements, dir: dir}
	for _, f := range opts {
		f(&o)
	}
	mp, g, err := parseGraph(data, o)
	if err != nil {
		return nil, err
	}
	if !o.allowNonFinite {
		if err := checkFiniteConstants(mp, g, o.maxElements); err != nil {
			return nil, err
		}
	}
	m := &Model{proto: mp, g: g, opt: o, pool: map[progKey][]*program[float32]{}}
	if len(g.inputs) != 1 {
		return nil, fmt.Errorf("model has %d data inputs; a classifier takes one image tensor", len(g.inputs))
	}
	in := g.inputs[0]
	if in.dtype != dtFloat {
		return nil, fmt.Errorf("input %q has element type %s; classifiers take float32 images", in.name, dtypeName(in.dtype))
	}
	if len(in.dims) != 4 && len(in.dims) != 2 && len(in.dims) != 3 {
		return nil, fmt.Errorf("input %q has shape %s; expected N×C×H×W images", in.name, in.shapeString())
	}
	for i, d := range in.dims[1:] {
		if d.size <= 0 {
			return nil, fmt.Errorf("input %q has shape %s; only the batch axis may be symbolic (axis %d is not)", in.name, in.shapeString(), i+1)
		}
		m.inShape = append(m.inShape, d.size)
	}
	// Bound one image before compiling allocates it (the product may overflow).
	elems := int64(1)
	for _, d := range m.inShape {
		if int64(d) > o.maxElements/elems {
			return nil, fmt.Errorf("input %q has shape %s; one image exceeds the limit of %d elements", in.name, in.shapeString(), o.maxElements)
		}
		elems *= int64(d)
	}
	if !g.dependsOn(g.outputs[0].name, in.name) {
		return nil, fmt.Errorf("output %q does not depend on the values of input %q", g.outputs[0].name, in.name)
	}
	// Compile once at batch 1 (or at the batch size the input fixes, the
	// only one that runs): it validates every op and tells the class count.
	batch := max(1, m.FixedBatch())
	p, err := m.checkout(batch, modeForward)
	if err != nil {
		return nil, err
	}
	defer m.checkin(batch, modeForward, p)
	out := p.outputs[0]
	if out < 0 {
		return nil, fmt.Errorf("output %q does not depend on the input", g.outputs[0].name)
	}
	if s := p.shapes[out]; len(s) != 2 || s[0] != batch || s[1] < 1 {
		return nil, fmt.Errorf("output %q has shape %v at batch %d; a classifier outputs N×classes logits", g.outputs[0].name, s, batch)
	} else {
		m.classes = s[1]
	}
	return m, nil
}

// InputShape is C×H×W of one image.
func (m *Model) InputShape() []int { return append([]int(nil), m.inShape...) }

// FixedBatch is the batch size the model's input declares, or 0 if its
// batch axis is symbolic (any batch size runs).
func (m *Model) FixedBatch() int {
	if d := m.g.inputs[0].dims[0]; d.size > 0 {
		return d.size
	}
	return 0
}

// NumClasses is the number of logits.
func (m *Model) NumClasses() int { return m.classes }

// Opset is the model's default-domain opset version.
func (m *Model) Opset() int64 { return m.g.opset }

func (m *Model) imageSize() int { return numel(m.inShape) }

// batchOf validates x and returns its batch size.
func (m *Model) batchOf(x []float32) (int, error) {
	sz := m.imageSize()
	if len(x) == 0 || len(x)%sz != 0 {
		return 0, fmt.Errorf("input has %d values, not a positive multiple of one image (%v = %d)", len(x), m.inShape, sz)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, fmt.Errorf("input value %d (image %d) is %v", i, i/sz, v)
		}
	}
	return len(x) / sz, nil
}

func (m *Model) checkout(batch int, mode progMode) (*program[float32], error) {
	key := progKey{batch, mode}
	m.poolMu.Lock()
	var p *program[float32]
	if l := m.pool[key]; len(l) > 0 {
		p = l[len(l)-1]
		m.pool[key] = l[:len(l)-1]
	}
	m.poolMu.Unlock()
	if p == nil {
		var err error
		p, err = compile[float32](m.g, compileOptions{
			inputShapes: [][]int{append([]int{batch}, m.inShape...)},
			inputGrad:   mode == modeInputGrad || mode == modeInspectGrad,
			paramGrad:   mode == modeParamGrad || mode == modeTrain,
			training:    mode == modeTrain,
			maxElements: m.opt.maxElements,
			maxBytes:    m.opt.maxActivationBytes,
			keepAll:     mode == modeInspect || mode == modeInspectGrad,
		})
		if err != nil {
			return nil, err
		}
		if err := m.checkProgram(p, batch, mode); err != nil {
			return nil, err
		}
		p.paramVer = math.MaxUint64
	}
	m.mu.RLock()
	if p.paramVer != m.version {
		p.loadParams(m.g)
		p.paramVer = m.version
	}
	m.mu.RUnlock()
	return p, nil
}

// checkProgram checks that a newly compiled program outputs batch×classes
// logits that depend on the input, so that no caller can be handed a
// buffer of another size (or a nil gradient) by a model that only looked
// like a classifier at batch 1.
func (m *Model) checkProgram(p *program[float32], batch int, mode progMode) error {
	name := m.g.outputs[0].name
	out := p.outputs[0]
	if out < 0 {
		return fmt.Errorf("output %q does not depend on the input", name)
	}
	if s := p.shapes[out]; len(s) != 2 || s[0] != batch || m.classes > 0 && s[1] != m.classes {
		return fmt.Errorf("output %q has shape %v for a batch of %d images; a classifier outputs N×classes logits", name, s, batch)
	}
	if (mode == modeInputGrad || mode == modeInspectGrad) && p.grad[out] == nil {
		return fmt.Errorf("output %q does not depend on the input", name)
	}
	return nil
}

func (m *Model) checkin(batch int, mode progMode, p *program[float32]) {
	key := progKey{batch, mode}
	m.poolMu.Lock()
	m.pool[key] = append(m.pool[key], p)
	m.poolMu.Unlock()
}

// Logits writes the logits of the images in x into dst.
func (m *Model) Logits(dst, x []float32) error {
	n, err := m.batchOf(x)
	if err != nil {
		return err
	}
	if len(dst) != n*m.classes {
		return fmt.Errorf("logits buffer has %d values, %d images need %d", len(dst), n, n*m.classes)
	}
	p, err := m.checkout(n, modeForward)
	if err != nil {
		return err
	}
	defer m.checkin(n, modeForward, p)
	p.setInput(0, x)
	p.forward()
	copy(dst, p.output(0))
	return nil
}

// Grad runs the model forward, asks seed for the cotangent on the logits
// and back-propagates it to the input. See Classifier.
func (m *Model) Grad(dx, x []float32, seed func(z, dz []float32)) error {
	n, err := m.batchOf(x)
	if err != nil {
		return err
	}
	if len(dx) != len(x) {
		return fmt.Errorf("gradient buffer has %d values, input has %d", len(dx), len(x))
	}
	p, err := m.checkout(n, modeInputGrad)
	if err != nil {
		return err
	}
	defer m.checkin(n, modeInputGrad, p)
	p.setInput(0, x)
	p.forward()
	out := p.outputs[0]
	p.zeroGrads()
	seed(p.data[out], p.grad[out])
	p.backward(p.seedStep(out))
	copy(dx, p.grad[p.inputs[0]])
	return nil
}

// VJP returns (∂logits/∂x)ᵀ v for a cotangent v on the logits.
func (m *Model) VJP(x, v []float32) ([]float32, error) {
	dx := make([]float32, len(x))
	var bad error
	err := m.Grad(dx, x, func(z, dz []float32) {
		if len(v) != len(dz) {
			bad = fmt.Errorf("cotangent has %d values, logits have %d", len(v), len(dz))
			return
		}
		copy(dz, v)
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	return dx, nil
}

// CrossEntropyGrad returns the gradient with respect to x of the
// sum-reduced softmax cross-entropy of the logits with labels y, and the
// logits. (The batch-mean loss's gradient is this divided by the batch.)
func (m *Model) CrossEntropyGrad(x []float32, y []int) (dx, logits []float32, err error) {
	dx = make([]float32, len(x))
	logits = make([]float32, len(y)*m.classes)
	var bad error
	err = m.Grad(dx, x, func(z, dz []float32) {
		if len(z) != len(logits) {
			bad = fmt.Errorf("%d labels for %d images", len(y), len(z)/m.classes)
			return
		}
		copy(logits, z)
		bad = SoftmaxCrossEntropyGrad(dz, z, y, m.classes)
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, nil, err
	}
	return dx, logits, nil
}

// SoftmaxCrossEntropy is the one softmax cross-entropy of advmatrix: for
// each row i of the logits z (len(y) rows of classes values) and label
// y[i], it writes scale·(softmax(z_i) − onehot(y_i)) — the gradient of
// scale·CE with respect to the logits — into dz when dz is not nil, and
// CE(z_i, y_i) into ce[i] when ce is not nil. Exponentials, sums and the
// subtraction are in float64, rounded to float32 once at the end, so the
// gradient is within one float32 rounding of the exact value. scale is 1
// for the sum-reduced loss, 1/n for PyTorch's default mean, negative for a
// loss that is descended (targeted attacks).
func SoftmaxCrossEntropy(dz, z []float32, y []int, classes int, scale float64, ce []float64) error {
	n := len(y)
	if classes < 1 || len(z) < n*classes || (dz != nil && len(dz) < n*classes) || (ce != nil && len(ce) < n) {
		if classes < 1 {
			return fmt.Errorf("%d classes: a softmax needs at least 1", classes)
		}
		return fmt.Errorf("%d labels of %d classes need %d logits; have %d logits, %d cotangents and %d losses", n, classes, n*classes, len(z), len(dz), len(ce))
	}
	for i, label := range y {
		if label < 0 || label >= classes {
			return fmt.Errorf("label %d of image %d is outside [0, %d)", label, i, classes)
		}
		row := z[i*classes : (i+1)*classes]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - mx))
		}
		if dz != nil {
			drow := dz[i*classes : (i+1)*classes]
			for j, v := range row {
				p := math.Exp(float64(v-mx)) / s
				if j == label {
					p--
				}
				drow[j] = float32(p * scale)
			}
		}
		if ce != nil {
			ce[i] = float64(mx) + math.Log(s) - float64(row[label])
		}
	}
	return nil
}

// SoftmaxCrossEntropyGrad writes softmax(z) − onehot(y) per row into dz:
// the gradient of the sum-reduced cross-entropy with respect to the logits
// (SoftmaxCrossEntropy with scale 1).
func SoftmaxCrossEntropyGrad(dz, z []float32, y []int, classes int) error {
	if dz == nil {
		dz = []float32{} // a missing buffer is too short, not "no gradient wanted"
	}
	return SoftmaxCrossEntropy(dz, z, y, classes, 1, nil)
}

// TensorNames lists the named tensors computed at run time, in graph order,
// whose activations and VJPs can be asked for.
func (m *Model) TensorNames() []string {
	var out []string
	out = append(out, m.g.inputs[0].name)
	for _, n := range m.g.nodes {
		out = append(out, n.GetOutput()...)
	}
	return out
}

// Activations runs the model and returns copies of the named tensors, with
// their shapes.
func (m *Model) Activations(x []float32, names ...string) ([][]float32, [][]int, error) {
	n, err := m.batchOf(x)
	if err != nil {
		return nil, nil, err
	}
	p, err := m.checkout(n, modeInspect)
	if err != nil {
		return nil, nil, err
	}
	defer m.checkin(n, modeInspect, p)
	slots := make([]int, len(names))
	for i, name := range names {
		s, ok := p.names[name]
		if !ok {
			return nil, nil, fmt.Errorf("no run-time tensor named %q (see TensorNames)", name)
		}
		slots[i] = s
	}
	p.setInput(0, x)
	p.forward()
	acts := make([][]float32, len(names))
	shapes := make([][]int, len(names))
	for i, s := range slots {
		acts[i] = append([]float32(nil), p.data[s]...)
		shapes[i] = append([]int(nil), p.shapes[s]...)
	}
	return acts, shapes, nil
}

// VJPAt returns (∂t/∂x)ᵀ v for the named intermediate tensor t and a
// cotangent v of t's shape.
func (m *Model) VJPAt(x []float32, name string, v []float32) ([]float32, error) {
	n, err := m.batchOf(x)
	if err != nil {
		return nil, err
	}
	p, err := m.checkout(n, modeInspectGrad)
	if err != nil {
		return nil, err
	}
	defer m.checkin(n, modeInspectGrad, p)
	s, ok := p.names[name]
	if !ok {
		return nil, fmt.Errorf("no run-time tensor named %q (see TensorNames)", name)
	}
	if len(v) != len(p.data[s]) {
		return nil, fmt.Errorf("cotangent has %d values, tensor %q of shape %v has %d", len(v), name, p.shapes[s], len(p.data[s]))
	}
	p.setInput(0, x)
	p.forward()
	dx := make([]float32, len(x))
	if p.grad[s] == nil {
		return dx, nil // t does not depend on x
	}
	p.zeroGrads()
	copy(p.grad[s], v)
	p.backward(p.seedStep(s))
	copy(dx, p.grad[p.inputs[0]])
	return dx, nil
}

// Param describes one trainable weight tensor.
type Param struct {
	Name  string
	Shape []int
	// Buffer marks BatchNorm running statistics: training updates them
	// from batch statistics; optimizers must leave them alone.
	Buffer bool
}

// Params lists the trainable weights (float initializers the graph uses as
// data), in file order.
func (m *Model) Params() []Param {
	out := make([]Param, len(m.g.params))
	for i, p := range m.g.params {
		out[i] = Param{Name: p.name, Shape: append([]int(nil), p.shape...), Buffer: p.buffer}
	}
	return out
}

// NumParams is the total number of trainable weights.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.g.params {
		n += len(p.data)
	}
	return n
}

// ParamValues returns a copy of a weight tensor.
func (m *Model) ParamValues(name string) ([]float32, error) {
	i, ok := m.g.paramIdx[name]
	if !ok {
		return nil, fmt.Errorf("no parameter named %q", name)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]float32(nil), m.g.params[i].data...), nil
}

// SetParam replaces a weight tensor's values (copied). Programs pick up the
// change at their next call.
func (m *Model) SetParam(name string, values []float32) error {
	i, ok := m.g.paramIdx[name]
	if !ok {
		return fmt.Errorf("no parameter named %q", name)
	}
	p := m.g.params[i]
	if len(values) != len(p.data) {
		return fmt.Errorf("parameter %q has %d values (shape %v), got %d", name, len(p.data), p.shape, len(values))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// A fresh slice: programs may still be reading the old one.
	p.data = append([]float32(nil), values...)
	m.version++
	return nil
}

// ParamGrads evaluates the model at x, asks cotangent for ∂L/∂z on the
// logits, and returns the gradient with respect to every parameter, in
// Params order.
func (m *Model) ParamGrads(x []float32, cotangent func(z, dz []float32)) ([][]float32, error) {
	return m.paramGrads(x, modeParamGrad, 0, cotangent)
}

// paramGrads runs a program of the given mode forward and back and returns
// the parameters' gradients (zero for buffers in training mode, whose new
// running statistics it stores instead).
func (m *Model) paramGrads(x []float32, mode progMode, rngSeed uint64, cotangent func(z, dz []float32)) ([][]float32, error) {
	n, err := m.batchOf(x)
	if err != nil {
		return nil, err
	}
	p, err := m.checkout(n, mode)
	if err != nil {
		return nil, err
	}
	defer m.checkin(n, mode, p)
	p.reseed(rngSeed)
	p.setInput(0, x)
	p.forward()
	out := p.outputs[0]
	p.zeroGrads()
	if p.grad[out] == nil {
		return nil, errors.New("the logits do not depend on any parameter")
	}
	cotangent(p.data[out], p.grad[out])
	p.backward(p.seedStep(out))
	res := make([][]float32, len(m.g.params))
	for i, par := range m.g.params {
		res[i] = make([]float32, len(par.data))
		if s := p.paramSlot[i]; s >= 0 && p.grad[s] != nil && !(par.buffer && mode == modeTrain) {
			copy(res[i], p.grad[s])
		}
	}
	if mode == modeTrain {
		m.storeRunningStats(p)
	}
	return res, nil
}

// OpCounts counts the graph's nodes by op type.
func (m *Model) OpCounts() map[string]int {
	c := map[string]int{}
	for _, n := range m.g.nodes {
		c[n.GetOpType()]++
	}
	return c
}

// Summary describes a model for people and for JSON.
type Summary struct {
	IRVersion  int64          `json:"ir_version"`
	Opset      int64          `json:"opset"`
	Producer   string         `json:"producer"`
	Inputs     []TensorSpec   `json:"inputs"`
	Outputs    []TensorSpec   `json:"outputs"`
	Ops        map[string]int `json:"ops"`
	Nodes      int            `json:"nodes"`
	Params     int            `json:"parameters"`
	ParamCount int            `json:"parameter_tensors"`
	Classes    int            `json:"classes"`
}

// TensorSpec is a graph input or output: name, element type and shape,
// with symbolic dimensions by name.
type TensorSpec struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []string `json:"shape"`
}

// Summary reports what the model is.
func (m *Model) Summary() Summary {
	s := Summary{IRVersion: m.proto.GetIrVersion(), Opset: m.g.opset, Ops: m.OpCounts(), Nodes: len(m.g.nodes),
		Params: m.NumParams(), ParamCount: len(m.g.params), Classes: m.classes}
	s.Producer = m.proto.GetProducerName()
	if v := m.proto.GetProducerVersion(); v != "" {
		s.Producer += " " + v
	}
	for _, in := range m.g.inputs {
		s.Inputs = append(s.Inputs, specOf(in))
	}
	for _, o := range m.g.outputs {
		s.Outputs = append(s.Outputs, specOf(o))
	}
	return s
}

func specOf(s ioSpec) TensorSpec {
	t := TensorSpec{Name: s.name, Type: dtypeName(s.dtype)}
	for _, d := range s.dims {
		t.Shape = append(t.Shape, d.String())
	}
	return t
}

// SupportedOps lists the ONNX op types the importer implements.
func SupportedOps() []string {
	var out []string
	for k := range opRegistry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WriteONNX writes the model — graph and current weights — as ONNX.
func (m *Model) WriteONNX(w io.Writer) error {
	mp := proto.Clone(m.proto).(*pb.ModelProto)
	m.mu.RLock()
	for _, t := range mp.GetGraph().GetInitializer() {
		i, ok := m.g.paramIdx[t.GetName()]
		if !ok {
			continue
		}
		t.FloatData, t.DataLocation, t.ExternalData = nil, nil, nil
		t.RawData = float32sLE(m.g.params[i].data)
	}
	m.mu.RUnlock()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return fmt.Errorf("encode ONNX: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// SaveFile writes the model atomically (temporary file, then rename).
func (m *Model) SaveFile(path string) error {
	var buf bytes.Buffer
	if err := m.WriteONNX(&buf); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes())
}

func float32sLE(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// SetParams replaces several weight tensors at once (values in Params
// order; a nil entry leaves that tensor alone), with one version change:
// an optimizer's whole step.
func (m *Model) SetParams(values [][]float32) error {
	if len(values) != len(m.g.params) {
		return fmt.Errorf("%d tensors given, the model has %d parameters", len(values), len(m.g.params))
	}
	for i, v := range values {
		if v != nil && len(v) != len(m.g.params[i].data) {
			p := m.g.params[i]
			return fmt.Errorf("parameter %q has %d values (shape %v), got %d", p.name, len(p.data), p.shape, len(v))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, v := range values {
		if v != nil {
			m.g.params[i].data = append([]float32(nil), v...)
		}
	}
	m.version++
	return nil
}

// TrainGrads runs one training step's passes: BatchNorm normalises by the
// batch's statistics and the model's running statistics are updated;
// Dropout is active, drawing from rngSeed. cotangent is called with the
// logits z and fills dz with ∂L/∂z. The gradient of every parameter is
// returned in Params order (all zero for buffers).
func (m *Model) TrainGrads(x []float32, rngSeed uint64, cotangent func(z, dz []float32)) ([][]float32, error) {
	return m.paramGrads(x, modeTrain, rngSeed, cotangent)
}

// storeRunningStats copies a training program's new BatchNorm running
// statistics into the model.
func (m *Model) storeRunningStats(p *program[float32]) {
	p.updateRunningStats()
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for i, par := range m.g.params {
		if s := p.paramSlot[i]; par.buffer && s >= 0 {
			par.data = append(par.data[:0:0], p.data[s]...)
			changed = true
		}
	}
	if changed {
		m.version++
	}
}
