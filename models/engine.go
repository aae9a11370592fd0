package models

import (
	"fmt"
	"math"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
)

// Float is the element type a compiled program computes in: float32 for
// real work, float64 for gradient checks.
type Float interface{ float32 | float64 }

// kernel is one compiled op: shapes and attributes are fixed when it is
// built, scratch space is owned by it, so a kernel (and the program holding
// it) serves one goroutine at a time.
type kernel[T Float] interface {
	// forward reads in (nil for inputs consumed at compile time) and writes
	// every element of out.
	forward(in, out [][]T)
	// backward adds the vector-Jacobian product of the outputs' cotangents
	// gout into gin; gin[i] is nil when input i needs no gradient.
	backward(in, out, gout, gin [][]T)
}

type builder[T Float] func(c *buildCtx) (kernel[T], error)

// weightCacher is a kernel that keeps a derived layout of some inputs (a
// convolution's weights rearranged for GEMM) between calls. The compiler
// tells it which inputs never change between parameter loads, and the
// program tells it when parameters were reloaded.
type weightCacher interface {
	setFixedInputs(fixed []bool)
	invalidate()
}

type opDef struct {
	since  int64
	static []int // inputs read at compile time: shapes, axes, bounds
	b32    builder[float32]
	b64    builder[float64]
}

func (d opDef) isStatic(input int, opset int64) bool {
	for _, s := range d.static {
		if s == input {
			return true
		}
	}
	return false
}

var opRegistry = map[string]opDef{}

func register(name string, since int64, static []int, b32 builder[float32], b64 builder[float64]) {
	opRegistry[name] = opDef{since: since, static: static, b32: b32, b64: b64}
}

// vinfo is what the compiler knows about a tensor.
type vinfo struct {
	shape   []int
	dtype   int32
	konst   *constant // value known at compile time (nil if computed at run time)
	slot    int       // run-time slot, or -1
	isParam bool
}

// outInfo is what a builder declares about one output.
type outInfo struct {
	shape []int
	dtype int32
	konst *constant // set by builders that compute their result at compile time
	view  bool      // output is input 0 reinterpreted (same elements, same order)
}

type buildCtx struct {
	node     *pb.NodeProto
	opset    int64
	in       []*vinfo // nil for absent optional inputs
	out      []outInfo
	attrs    map[string]*pb.AttributeProto
	folding  bool
	training bool // BatchNorm on batch statistics, Dropout active
	maxElem  int64
}

func (c *buildCtx) errorf(format string, args ...any) error {
	return fmt.Errorf("node %q (%s, opset %d): %s", c.node.GetName(), c.node.GetOpType(), c.opset, fmt.Sprintf(format, args...))
}

func (c *buildCtx) nIn() int { return len(c.in) }

// input returns input i, or nil when absent.
func (c *buildCtx) input(i int) *vinfo {
	if i < len(c.in) {
		return c.in[i]
	}
	return nil
}

func (c *buildCtx) needInputs(min, max int) error {
	if len(c.in) < min || len(c.in) > max {
		return c.errorf("has %d inputs, expects %d to %d", len(c.in), min, max)
	}
	for i := 0; i < min; i++ {
		if c.in[i] == nil {
			return c.errorf("required input %d is missing", i)
		}
	}
	return nil
}

// noneAbsent rejects an empty input name anywhere (variadic ops have no
// optional inputs).
func (c *buildCtx) noneAbsent() error {
	for i, v := range c.in {
		if v == nil {
			return c.errorf("input %d is missing", i)
		}
	}
	return nil
}

// static returns the compile-time value of input i.
func (c *buildCtx) static(i int) (*constant, error) {
	v := c.input(i)
	if v == nil {
		return nil, nil
	}
	if v.konst == nil {
		return nil, c.errorf("input %d (%q) must be known when the graph is compiled (a constant or initializer), but it is computed from the data", i, c.node.GetInput()[i])
	}
	return v.konst, nil
}

func (c *buildCtx) staticInts(i int) ([]int, bool, error) {
	k, err := c.static(i)
	if err != nil || k == nil {
		return nil, false, err
	}
	return k.ints(), true, nil
}

func (c *buildCtx) setOut(i int, shape []int, dtype int32) error {
	for len(c.out) <= i {
		c.out = append(c.out, outInfo{})
	}
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return c.errorf("computed a negative output dimension %v", shape)
		}
		n *= int64(d)
		if n > c.maxElem {
			return c.errorf("output shape %v exceeds the limit of %d elements", shape, c.maxElem)
		}
	}
	c.out[i].shape = shape
	c.out[i].dtype = dtype
	return nil
}

// floatIn checks that input i is a float tensor and returns it.
func (c *buildCtx) floatIn(i int) (*vinfo, error) {
	v := c.input(i)
	if v == nil {
		return nil, c.errorf("input %d is missing", i)
	}
	if !isFloatType(v.dtype) && !c.folding {
		return nil, c.errorf("input %d has element type %s; only float tensors are computed at run time", i, dtypeName(v.dtype))
	}
	return v, nil
}

// step is one kernel invocation in a compiled program.
type step[T Float] struct {
	name, op string
	k        kernel[T]
	in, out  []int // slots; -1 for absent or compile-time inputs
	ins      [][]T // views of slot data, fixed at compile time
	outs     [][]T
	gins     [][]T
	gouts    [][]T
	needBack bool
}

// program is a graph compiled for fixed input shapes: every buffer is
// allocated up front and reused, so running it does not allocate.
type program[T Float] struct {
	steps      []*step[T]
	data       [][]T
	grad       [][]T
	shapes     [][]int
	names      map[string]int // tensor name -> slot
	producer   []int          // slot -> index of the producing step, -1 for leaves
	inputs     []int
	outputs    []int
	paramSlot  []int // per graph param: slot or -1 if unused at run time
	paramVer   uint64
	constOuts  map[int]*constant // graph outputs known at compile time
	inputGrad  bool
	paramGrads bool

	arena       int     // elements planned for run-time tensors and gradients
	clearAt     [][][]T // per step: gradient buffers to clear before its backward
	pinnedGrads [][]T   // gradients of inputs, outputs and parameters
}

type compileOptions struct {
	inputShapes [][]int
	constInputs map[string]*constant // inputs bound at compile time (tests)
	inputGrad   bool
	paramGrad   bool
	training    bool
	maxElements int64
	maxBytes    int64 // planned memory bound; 0 means DefaultMaxActivationBytes
	keepAll     bool  // every tensor keeps its own memory (Activations, VJPAt)
}

// statsKernel is a training-mode kernel that computes new running
// statistics (BatchNorm): after a forward pass the program copies them into
// the slots of the given inputs.
type statsKernel[T Float] interface {
	runningStats() (inputs []int, values [][]T)
}

// seededKernel draws random numbers (training-mode Dropout); the program
// reseeds it before each training step.
type seededKernel interface {
	reseed(seed uint64)
}

func compile[T Float](g *graph, opt compileOptions) (*program[T], error) {
	p := &program[T]{names: map[string]int{}, constOuts: map[int]*constant{}, inputGrad: opt.inputGrad, paramGrads: opt.paramGrad}
	vals := map[string]*vinfo{}
	// Slots get their memory after every step is known (planMemory);
	// until then a slot records its size, the slot whose memory it views,
	// and whether it has a gradient.
	var root []int
	var pinned, gradWanted []bool
	newSlot := func(shape []int, reqGrad bool) int {
		s := len(p.data)
		p.data = append(p.data, nil)
		p.grad = append(p.grad, nil)
		p.shapes = append(p.shapes, shape)
		p.producer = append(p.producer, -1)
		root = append(root, s)
		pinned = append(pinned, false)
		gradWanted = append(gradWanted, reqGrad)
		return s
	}
	if len(opt.inputShapes) != len(g.inputs) {
		return nil, fmt.Errorf("model has %d data inputs, %d given", len(g.inputs), len(opt.inputShapes))
	}
	for i, in := range g.inputs {
		if k, ok := opt.constInputs[in.name]; ok {
			vals[in.name] = &vinfo{shape: k.shape, dtype: k.dtype, konst: k, slot: -1}
			p.inputs = append(p.inputs, -1)
			continue
		}
		shape := opt.inputShapes[i]
		if err := in.check(shape); err != nil {
			return nil, err
		}
		if !isFloatType(in.dtype) {
			return nil, fmt.Errorf("input %q has element type %s; only float inputs are computed at run time", in.name, dtypeName(in.dtype))
		}
		s := newSlot(shape, opt.inputGrad)
		pinned[s] = true
		vals[in.name] = &vinfo{shape: shape, dtype: in.dtype, slot: s}
		p.inputs = append(p.inputs, s)
		p.names[in.name] = s
	}
	p.paramSlot = make([]int, len(g.params))
	for i := range p.paramSlot {
		p.paramSlot[i] = -1
	}
	for name, k := range g.consts {
		if pi, ok := g.paramIdx[name]; ok {
			vals[name] = &vinfo{shape: k.shape, dtype: k.dtype, konst: k, slot: -1, isParam: true}
			_ = pi
			continue
		}
		vals[name] = &vinfo{shape: k.shape, dtype: k.dtype, konst: k, slot: -1}
	}
	// fixedSlot marks constants and parameters: slots whose values change
	// only when parameters are loaded.
	fixedSlot := map[int]bool{}
	// constSlot materialises a compile-time value consumed at run time.
	constSlot := func(v *vinfo, name string) int {
		if v.slot >= 0 {
			return v.slot
		}
		reqGrad := false
		pi, isParam := g.paramIdx[name]
		if isParam && v.isParam {
			reqGrad = opt.paramGrad
		}
		s := newSlot(v.shape, reqGrad)
		fixedSlot[s] = true
		pinned[s] = true
		p.data[s] = make([]T, numel(v.shape))
		if isParam && v.isParam {
			p.paramSlot[pi] = s
		} else {
			fillConst(p.data[s], v.konst)
		}
		v.slot = s
		p.names[name] = s
		return s
	}
	for ni, n := range g.nodes {
		def := opRegistry[n.GetOpType()]
		ctx := &buildCtx{node: n, opset: g.opset, attrs: map[string]*pb.AttributeProto{}, maxElem: opt.maxElements, training: opt.training}
		for _, a := range n.GetAttribute() {
			ctx.attrs[a.GetName()] = a
		}
		fold := true
		for j, name := range n.GetInput() {
			if name == "" {
				ctx.in = append(ctx.in, nil)
				continue
			}
			v := vals[name]
			if v == nil {
				return nil, fmt.Errorf("node %q (%s): input %q is undefined", n.GetName(), n.GetOpType(), name)
			}
			ctx.in = append(ctx.in, v)
			if v.konst == nil || (v.isParam && !def.isStatic(j, g.opset)) {
				fold = false
			}
		}
		if fold {
			ctx.folding = true
			outs, err := foldNode(ctx, def)
			if err != nil {
				return nil, err
			}
			for j, name := range n.GetOutput() {
				if name != "" && j < len(outs) {
					vals[name] = &vinfo{shape: outs[j].shape, dtype: outs[j].dtype, konst: outs[j], slot: -1}
				}
			}
			continue
		}
		var b builder[T]
		switch any(p).(type) {
		case *program[float32]:
			b = any(def.b32).(builder[T])
		default:
			b = any(def.b64).(builder[T])
		}
		k, err := b(ctx)
		if err != nil {
			return nil, err
		}
		if len(ctx.out) < len(n.GetOutput()) {
			for j := len(ctx.out); j < len(n.GetOutput()); j++ {
				if n.GetOutput()[j] != "" {
					return nil, ctx.errorf("output %d is not supported", j)
				}
			}
		}
		st := &step[T]{name: n.GetName(), op: n.GetOpType(), k: k}
		reqGrad := false
		for j, v := range ctx.in {
			if v == nil || def.isStatic(j, g.opset) {
				st.in = append(st.in, -1)
				continue
			}
			s := constSlot(v, n.GetInput()[j])
			st.in = append(st.in, s)
			if gradWanted[s] {
				reqGrad = true
			}
		}
		for j, name := range n.GetOutput() {
			if name == "" {
				st.out = append(st.out, -1)
				continue
			}
			o := ctx.out[j]
			if o.konst != nil {
				vals[name] = &vinfo{shape: o.shape, dtype: o.dtype, konst: o.konst, slot: -1}
				st.out = append(st.out, -1)
				continue
			}
			if !isFloatType(o.dtype) {
				return nil, ctx.errorf("output %d has element type %s, which depends on the data; only float tensors are computed at run time", j, dtypeName(o.dtype))
			}
			var s int
			if o.view {
				src := st.in[0]
				s = newSlot(o.shape, gradWanted[src])
				root[s] = root[src]
				p.data[s] = p.data[src] // set for constants; planned otherwise
				p.producer[s] = p.producer[src]
			} else {
				s = newSlot(o.shape, reqGrad)
				p.producer[s] = len(p.steps)
			}
			vals[name] = &vinfo{shape: o.shape, dtype: o.dtype, slot: s}
			p.names[name] = s
			st.out = append(st.out, s)
		}
		if k == nil {
			continue // pure compile-time op or a view
		}
		_ = ni
		st.needBack = reqGrad
		if wc, ok := k.(weightCacher); ok {
			fixed := make([]bool, len(st.in))
			for j, s := range st.in {
				fixed[j] = s >= 0 && fixedSlot[s]
			}
			wc.setFixedInputs(fixed)
		}
		p.steps = append(p.steps, st)
	}
	for _, o := range g.outputs {
		v := vals[o.name]
		if v.konst != nil {
			p.outputs = append(p.outputs, -1)
			p.constOuts[len(p.outputs)-1] = v.konst
			continue
		}
		p.outputs = append(p.outputs, v.slot)
		pinned[root[v.slot]] = true
	}
	if !opt.keepAll {
		p.fuseReLUs(root, pinned)
	}
	if err := p.allocate(root, pinned, gradWanted, opt); err != nil {
		return nil, err
	}
	return p, nil
}

// reluFuser is a kernel that can apply a ReLU to its output itself: in
// its forward pass while the output is in cache, and by masking the
// cotangent with the output at the start of its backward pass.
type reluFuser interface {
	fuseReLU() bool // reports whether the kernel took the ReLU on
}

// fuseReLUs removes every ReLU step whose input is a fusing kernel's
// output read by nothing else: the kernel applies the ReLU, and the ReLU's
// output becomes a view of the kernel's. The pre-activation is then not
// kept anywhere, so programs that expose every tensor (keepAll) do not
// fuse.
func (p *program[T]) fuseReLUs(root []int, pinned []bool) {
	consumers := make([]int, len(root))
	for _, st := range p.steps {
		for _, s := range st.in {
			if s >= 0 {
				consumers[root[s]]++
			}
		}
	}
	newIndex := make([]int, len(p.steps))
	var kept []*step[T]
	for i, st := range p.steps {
		if u, ok := st.k.(*unaryK[T]); ok && u.kind == uRelu {
			s, o := st.in[0], st.out[0]
			if s >= 0 && o >= 0 && root[s] == s && root[o] == o && !pinned[s] && !pinned[o] && consumers[s] == 1 {
				if j := p.producer[s]; j >= 0 && len(p.steps[j].out) == 1 && p.steps[j].out[0] == s {
					if f, ok := p.steps[j].k.(reluFuser); ok && f.fuseReLU() {
						root[o] = s
						p.producer[o] = j
						newIndex[i] = newIndex[j]
						continue
					}
				}
			}
		}
		newIndex[i] = len(kept)
		kept = append(kept, st)
	}
	if len(kept) == len(p.steps) {
		return
	}
	for s, j := range p.producer {
		if j >= 0 {
			p.producer[s] = newIndex[j]
		}
	}
	for s := range root { // views of a fused ReLU's output
		for root[s] != root[root[s]] {
			root[s] = root[root[s]]
		}
	}
	p.steps = kept
}

// allocate plans the slots' memory, checks it against the budget, and
// gives every slot and step its buffers.
func (p *program[T]) allocate(root []int, pinned, gradWanted []bool, opt compileOptions) error {
	sizes := make([]int, len(p.shapes))
	for s, sh := range p.shapes {
		sizes[s] = numel(sh)
	}
	for s := range root {
		if root[s] != s {
			pinned[root[s]] = pinned[root[s]] || pinned[s]
		}
	}
	p.clearAt = make([][][]T, len(p.steps))
	bufs := p.planMemory(root, sizes, pinned, gradWanted, opt.keepAll)
	arena := arenaSize(bufs)
	scratch := 0
	for _, st := range p.steps {
		if su, ok := st.k.(scratchUser[T]); ok {
			scratch = max(scratch, su.scratchSize())
		}
	}
	limit := opt.maxBytes
	if limit <= 0 {
		limit = DefaultMaxActivationBytes
	}
	if err := p.checkBudget(bufs, arena, scratch, limit); err != nil {
		return err
	}
	p.arena = arena
	mem := make([]T, arena)
	for _, b := range bufs {
		region := mem[b.offset : b.offset+b.size : b.offset+b.size]
		if b.grad {
			p.grad[b.slot] = region
		} else {
			p.data[b.slot] = region
		}
		if b.grad && !b.pinned {
			// Cleared just before its first writer adds into it.
			i := 2*len(p.steps) - 1 - b.start
			p.clearAt[i] = append(p.clearAt[i], region)
		} else if b.grad {
			p.pinnedGrads = append(p.pinnedGrads, region)
		}
	}
	for s := range root {
		if r := root[s]; r != s {
			p.data[s] = p.data[r]
			p.grad[s] = p.grad[r]
		}
	}
	if scratch > 0 {
		buf := make([]T, scratch)
		for _, st := range p.steps {
			if su, ok := st.k.(scratchUser[T]); ok {
				su.setScratch(buf)
			}
		}
	}
	for _, st := range p.steps {
		for _, s := range st.in {
			st.ins = append(st.ins, slotData(p.data, s))
			st.gins = append(st.gins, slotData(p.grad, s))
		}
		for _, s := range st.out {
			st.outs = append(st.outs, slotData(p.data, s))
			st.gouts = append(st.gouts, slotData(p.grad, s))
		}
	}
	return nil
}

func slotData[T Float](bufs [][]T, s int) []T {
	if s < 0 {
		return nil
	}
	return bufs[s]
}

func fillConst[T Float](dst []T, k *constant) {
	if k.f32 != nil {
		for i, v := range k.f32 {
			dst[i] = T(v)
		}
		return
	}
	for i, v := range k.f64 {
		dst[i] = T(v)
	}
}

// foldNode evaluates a node whose inputs are all known at compile time, in
// float64 (exact for the integer shape arithmetic exporters emit).
func foldNode(ctx *buildCtx, def opDef) ([]*constant, error) {
	k, err := def.b64(ctx)
	if err != nil {
		return nil, err
	}
	outs := make([]*constant, len(ctx.out))
	if k == nil {
		for i, o := range ctx.out {
			switch {
			case o.konst != nil:
				outs[i] = o.konst
			case o.view:
				src := ctx.in[0].konst
				outs[i] = &constant{dtype: o.dtype, shape: o.shape, f32: src.f32, f64: src.f64}
			default:
				return nil, ctx.errorf("cannot be evaluated at compile time")
			}
		}
		return outs, nil
	}
	ins := make([][]float64, len(ctx.in))
	for i, v := range ctx.in {
		if v != nil {
			ins[i] = v.konst.float64s()
		}
	}
	res := make([][]float64, len(ctx.out))
	for i, o := range ctx.out {
		if o.konst == nil {
			res[i] = make([]float64, numel(o.shape))
		}
	}
	k.forward(ins, res)
	for i, o := range ctx.out {
		if o.konst != nil {
			outs[i] = o.konst
			continue
		}
		c := &constant{dtype: o.dtype, shape: o.shape, f64: res[i]}
		if isIntType(o.dtype) {
			for j, v := range c.f64 {
				c.f64[j] = math.Trunc(v)
			}
		} else if o.dtype == dtFloat16 || o.dtype == dtBF16 {
			for j, v := range c.f64 {
				c.f64[j] = roundTo(o.dtype, v)
			}
		} else if o.dtype == dtFloat {
			// Keep float32 semantics: round the float64 result once.
			c.f32 = make([]float32, len(res[i]))
			for j, v := range res[i] {
				c.f32[j] = float32(v)
			}
			c.f64 = nil
		}
		outs[i] = c
	}
	return outs, nil
}

// loadParams copies the model's current weights into the program.
func (p *program[T]) loadParams(g *graph) {
	p.weightsChanged()
	for i, s := range p.paramSlot {
		if s < 0 {
			continue
		}
		dst := p.data[s]
		for j, v := range g.params[i].data {
			dst[j] = T(v)
		}
	}
}

// weightsChanged tells kernels that cache rearranged weights that parameter
// or constant slots were written.
func (p *program[T]) weightsChanged() {
	for _, st := range p.steps {
		if wc, ok := st.k.(weightCacher); ok {
			wc.invalidate()
		}
	}
}

// forward runs every step. Inputs must already be in their slots.
func (p *program[T]) forward() {
	for _, st := range p.steps {
		st.k.forward(st.ins, st.outs)
	}
}

// reseed gives every random kernel its own stream derived from seed.
func (p *program[T]) reseed(seed uint64) {
	for i, st := range p.steps {
		if sk, ok := st.k.(seededKernel); ok {
			sk.reseed(seed ^ uint64(i+1)*0x9e3779b97f4a7c15)
		}
	}
}

// updateRunningStats copies training-mode BatchNorm statistics into their
// parameter slots after a forward pass.
func (p *program[T]) updateRunningStats() {
	for _, st := range p.steps {
		sk, ok := st.k.(statsKernel[T])
		if !ok {
			continue
		}
		ins, vals := sk.runningStats()
		for j, in := range ins {
			if s := st.in[in]; s >= 0 {
				copy(p.data[s], vals[j])
			}
		}
	}
}

// arenaLen is the number of elements planned for the program's run-time
// tensors and gradients.
func (p *program[T]) arenaLen() int { return p.arena }

// zeroGrads clears the pinned gradient buffers (inputs, outputs,
// parameters) before a backward pass; the others are cleared as the pass
// reaches them.
func (p *program[T]) zeroGrads() {
	for _, g := range p.pinnedGrads {
		clear(g)
	}
}

// backward propagates cotangents already placed in grad slots, running the
// steps in reverse from the latest step that produced a seeded slot.
func (p *program[T]) backward(from int) {
	// Buffers first written by steps after from are read by steps up to
	// from nonetheless when a tensor has consumers on both sides.
	for i := from + 1; i < len(p.steps); i++ {
		for _, g := range p.clearAt[i] {
			clear(g)
		}
	}
	for i := from; i >= 0; i-- {
		st := p.steps[i]
		for _, g := range p.clearAt[i] {
			clear(g)
		}
		if st.needBack {
			st.k.backward(st.ins, st.outs, st.gouts, st.gins)
		}
	}
}
