package onnxgraph

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
)

// Aggregation is how an ensemble turns its members' logits into one
// output. Every kind is written as ordinary ONNX ops, so the ensemble is
// one file any runtime loads.
type Aggregation struct {
	// Kind is one of:
	//   mean-logits       (1/N)·Σ z_i
	//   mean-softmax      (1/N)·Σ softmax(z_i) (probabilities; argmax as usual)
	//   log-mean-softmax  log(max((1/N)·Σ softmax(z_i), 1e-40)), DVERGE's ensemble
	//   crossmax          Fort & Lakshminarayanan's CrossMax with the K-th largest
	//   crossmax-median   CrossMax with the median over members
	Kind string
	// K is crossmax's rank (default 3; 2 ≤ K ≤ N).
	K int
}

// ParseAggregation reads mean-logits, mean-softmax, log-mean-softmax,
// crossmax[:k=K] or crossmax-median.
func ParseAggregation(s string) (Aggregation, error) {
	kind, opt, _ := strings.Cut(s, ":")
	a := Aggregation{Kind: kind}
	switch kind {
	case "mean-logits", "mean-softmax", "log-mean-softmax", "crossmax-median":
		if opt != "" {
			return a, fmt.Errorf("aggregation %s takes no options, got %q", kind, opt)
		}
	case "crossmax":
		a.K = 3
		if opt != "" {
			v, ok := strings.CutPrefix(opt, "k=")
			k, err := strconv.Atoi(v)
			if !ok || err != nil {
				return a, fmt.Errorf("aggregation %q: want crossmax or crossmax:k=K", s)
			}
			a.K = k
		}
	default:
		return a, fmt.Errorf("unknown aggregation %q (want mean-logits, mean-softmax, log-mean-softmax, crossmax[:k=K] or crossmax-median)", s)
	}
	return a, nil
}

func (a Aggregation) String() string {
	if a.Kind == "crossmax" {
		return fmt.Sprintf("crossmax:k=%d", a.K)
	}
	return a.Kind
}

// check validates the aggregation for n members.
func (a Aggregation) check(n int) error {
	if n < 1 {
		return fmt.Errorf("an ensemble needs members")
	}
	if a.Kind == "crossmax" && (a.K < 2 || a.K > n) {
		return fmt.Errorf("crossmax k=%d: k must be between 2 and the number of members (%d); k=1 gives all zeros", a.K, n)
	}
	if strings.HasPrefix(a.Kind, "crossmax") && n < 2 {
		return fmt.Errorf("crossmax needs at least 2 members")
	}
	return nil
}

// Member is one model of an ensemble: its ONNX bytes.
type Member struct {
	Name  string // for errors
	ONNX  []byte
	scope string
}

// Combine writes one ONNX model holding every member and the aggregation:
// the members share one input (named "input"), their tensors and nodes are
// renamed under "m<i>/", and the aggregation's output is named "logits".
// Members must take the same image shape, output the same number of
// classes, use the default ONNX domain at the same opset, and have no
// subgraphs. The result is deterministic: the same members and
// aggregation give the same bytes.
func Combine(members []Member, agg Aggregation) ([]byte, error) {
	if err := agg.check(len(members)); err != nil {
		return nil, err
	}
	var (
		out     = &pb.GraphProto{Name: proto.String("ensemble")}
		opset   int64
		ir      int64
		inShape *pb.TypeProto
		classes int64
		logits  []string
	)
	for i := range members {
		m := &members[i]
		m.scope = fmt.Sprintf("m%d/", i)
		var mp pb.ModelProto
		if err := proto.Unmarshal(m.ONNX, &mp); err != nil {
			return nil, fmt.Errorf("member %s: not an ONNX model: %v", m.Name, err)
		}
		g := mp.GetGraph()
		o, err := defaultOpset(&mp)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.Name, err)
		}
		if i == 0 {
			opset, ir = o, mp.GetIrVersion()
		} else if o != opset {
			return nil, fmt.Errorf("member %s uses opset %d, member %s opset %d: re-export them at one opset", m.Name, o, members[0].Name, opset)
		}
		ir = max(ir, mp.GetIrVersion())
		in, outName, err := soleIO(g)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.Name, err)
		}
		if i == 0 {
			inShape = in.GetType()
		} else if !proto.Equal(stripDimNames(in.GetType()), stripDimNames(inShape)) {
			return nil, fmt.Errorf("member %s takes input %v, member %s %v", m.Name, shapeOf(in.GetType()), members[0].Name, shapeOf(inShape))
		}
		k, err := classesOf(g.GetOutput()[0])
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.Name, err)
		}
		if i == 0 {
			classes = k
		} else if k != classes {
			return nil, fmt.Errorf("member %s outputs %d classes, member %s %d", m.Name, k, members[0].Name, classes)
		}
		if err := m.appendTo(out, g, in.GetName()); err != nil {
			return nil, err
		}
		logits = append(logits, m.scope+outName)
	}
	out.Input = []*pb.ValueInfoProto{{Name: proto.String("input"), Type: proto.Clone(inShape).(*pb.TypeProto)}}
	h := &head{g: out, opset: opset}
	y, err := h.aggregate(logits, agg)
	if err != nil {
		return nil, err
	}
	h.node("Identity", []string{y}, []string{"logits"})
	out.Output = []*pb.ValueInfoProto{floatInfo("logits", []int{Batch, int(classes)})}
	model := &pb.ModelProto{IrVersion: proto.Int64(max(ir, 7)), ProducerName: proto.String("advmatrix"), Graph: out,
		DocString:   proto.String("advmatrix ensemble of " + strconv.Itoa(len(members)) + " models, aggregation " + agg.String()),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}}}
	return proto.MarshalOptions{Deterministic: true}.Marshal(model)
}

// defaultOpset is a model's ai.onnx opset; other domains are refused.
func defaultOpset(m *pb.ModelProto) (int64, error) {
	var v int64 = -1
	for _, o := range m.GetOpsetImport() {
		switch o.GetDomain() {
		case "", "ai.onnx":
			v = o.GetVersion()
		default:
			return 0, fmt.Errorf("uses operator domain %q, which an ensemble cannot combine", o.GetDomain())
		}
	}
	if v < 0 {
		return 0, fmt.Errorf("declares no ai.onnx opset")
	}
	return v, nil
}

// soleIO returns a graph's one run-time input (inputs that are also
// initializers are weights, as older exporters write them) and its output.
func soleIO(g *pb.GraphProto) (*pb.ValueInfoProto, string, error) {
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	var ins []*pb.ValueInfoProto
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			ins = append(ins, in)
		}
	}
	if len(ins) != 1 {
		return nil, "", fmt.Errorf("has %d inputs; an ensemble member takes one image batch", len(ins))
	}
	if len(g.GetOutput()) != 1 {
		return nil, "", fmt.Errorf("has %d outputs; an ensemble member outputs one logits tensor", len(g.GetOutput()))
	}
	return ins[0], g.GetOutput()[0].GetName(), nil
}

func classesOf(v *pb.ValueInfoProto) (int64, error) {
	dims := v.GetType().GetTensorType().GetShape().GetDim()
	if len(dims) != 2 || dims[1].GetDimValue() <= 0 {
		return 0, fmt.Errorf("output %q has shape %v; want batch × classes", v.GetName(), shapeOf(v.GetType()))
	}
	return dims[1].GetDimValue(), nil
}

func shapeOf(t *pb.TypeProto) []string {
	var s []string
	for _, d := range t.GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" || d.GetDimValue() == 0 {
			s = append(s, "?")
		} else {
			s = append(s, strconv.FormatInt(d.GetDimValue(), 10))
		}
	}
	return s
}

// stripDimNames forgets what symbolic axes are called (batch, N, …).
func stripDimNames(t *pb.TypeProto) *pb.TypeProto {
	c := proto.Clone(t).(*pb.TypeProto)
	for _, d := range c.GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" {
			d.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: "?"}
		}
		d.Denotation = nil
	}
	return c
}

// appendTo copies the member's initializers and nodes into out, renamed
// into its scope, reading the shared input.
func (m *Member) appendTo(out *pb.GraphProto, g *pb.GraphProto, input string) error {
	rename := func(name string) string {
		switch name {
		case "":
			return ""
		case input:
			return "input"
		}
		return m.scope + name
	}
	for _, t := range g.GetInitializer() {
		c := proto.Clone(t).(*pb.TensorProto)
		if c.GetDataLocation() == pb.TensorProto_EXTERNAL {
			return fmt.Errorf("member %s keeps tensor %q in an external file; save it with the weights inside", m.Name, t.GetName())
		}
		c.Name = proto.String(rename(t.GetName()))
		out.Initializer = append(out.Initializer, c)
	}
	for _, n := range g.GetNode() {
		c := proto.Clone(n).(*pb.NodeProto)
		if c.GetDomain() != "" && c.GetDomain() != "ai.onnx" {
			return fmt.Errorf("member %s: node %q is in domain %q", m.Name, n.GetName(), n.GetDomain())
		}
		for _, a := range c.GetAttribute() {
			if a.G != nil || len(a.Graphs) > 0 {
				return fmt.Errorf("member %s: node %q (%s) has a subgraph, which an ensemble cannot combine", m.Name, n.GetName(), n.GetOpType())
			}
		}
		c.Name = proto.String(m.scope + n.GetName())
		for i, s := range c.Input {
			c.Input[i] = rename(s)
		}
		for i, s := range c.Output {
			c.Output[i] = rename(s)
		}
		out.Node = append(out.Node, c)
	}
	for _, v := range g.GetValueInfo() {
		c := proto.Clone(v).(*pb.ValueInfoProto)
		c.Name = proto.String(rename(v.GetName()))
		out.ValueInfo = append(out.ValueInfo, c)
	}
	return nil
}

// head appends aggregation nodes to a graph, named agg/<op>_<k>.
type head struct {
	g     *pb.GraphProto
	opset int64
	n     int
}

func (h *head) node(op string, in, out []string, attrs ...Attr) string {
	n := &pb.NodeProto{Name: proto.String(fmt.Sprintf("agg/%s_%d", op, h.n)), OpType: proto.String(op),
		Input: append([]string(nil), in...), Output: append([]string(nil), out...)}
	for _, a := range attrs {
		n.Attribute = append(n.Attribute, a.p)
	}
	h.g.Node = append(h.g.Node, n)
	h.n++
	return out[0]
}

// tmp names a new intermediate tensor.
func (h *head) tmp(what string) string { return fmt.Sprintf("agg/%s_%d", what, h.n) }

func (h *head) scalar(name string, v float32) string {
	h.g.Initializer = append(h.g.Initializer, &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(dtFloat), RawData: float32sLE([]float32{v})})
	return name
}

func (h *head) op(op string, in []string, attrs ...Attr) string {
	return h.node(op, in, []string{h.tmp(strings.ToLower(op))}, attrs...)
}

// maxOverClasses is ReduceMax over axis 1 keeping it, written for the
// opset (axes became an input in opset 18).
func (h *head) maxOverClasses(x string) string {
	if h.opset >= 18 {
		axes := h.tmp("axes")
		h.g.Initializer = append(h.g.Initializer, &pb.TensorProto{Name: proto.String(axes), Dims: []int64{1},
			DataType: proto.Int32(int32(pb.TensorProto_INT64)), Int64Data: []int64{1}})
		return h.op("ReduceMax", []string{x, axes}, Int("keepdims", 1))
	}
	return h.op("ReduceMax", []string{x}, Ints("axes", 1), Int("keepdims", 1))
}

func (h *head) softmax(x string) string {
	// Softmax over the classes of a batch × classes tensor: axis 1 means
	// the same at every opset for 2-D input.
	return h.op("Softmax", []string{x}, Int("axis", 1))
}

// aggregate emits the aggregation of the members' logits.
func (h *head) aggregate(z []string, a Aggregation) (string, error) {
	n := float32(len(z))
	switch a.Kind {
	case "mean-logits":
		return h.op("Mul", []string{h.op("Sum", z), h.scalar("agg/one_over_n", 1/n)}), nil
	case "mean-softmax", "log-mean-softmax":
		var p []string
		for _, zi := range z {
			p = append(p, h.softmax(zi))
		}
		mean := h.op("Mul", []string{h.op("Sum", p), h.scalar("agg/one_over_n", 1/n)})
		if a.Kind == "mean-softmax" {
			return mean, nil
		}
		// DVERGE clamps the mean probability at 1e-40 before the log.
		floor := h.scalar("agg/floor", float32(1e-40))
		return h.op("Log", []string{h.op("Max", []string{mean, floor})}), nil
	case "crossmax", "crossmax-median":
		return h.crossmax(z, a), nil
	}
	return "", fmt.Errorf("unknown aggregation %q", a.Kind)
}

// crossmax is CrossMax (Fort & Lakshminarayanan 2024): subtract each
// member's own maximum over classes, then each class's maximum over
// members, then take the K-th largest value over members per class (or the
// median). The order statistic is a selection network of elementwise Max
// and Min, so the gradient flows to the selected entry as TopK's would.
func (h *head) crossmax(z []string, a Aggregation) string {
	var zs []string
	for _, zi := range z {
		zs = append(zs, h.op("Sub", []string{zi, h.maxOverClasses(zi)}))
	}
	colMax := zs[0]
	if len(zs) > 1 {
		colMax = h.op("Max", zs)
	}
	for i := range zs {
		zs[i] = h.op("Sub", []string{zs[i], colMax})
	}
	n := len(zs)
	if a.Kind == "crossmax" {
		return h.kthLargest(zs, a.K)
	}
	if n%2 == 1 {
		return h.kthLargest(zs, (n+1)/2)
	}
	// Even: the mean of the two middle values.
	sorted := h.topSorted(zs, n/2+1)
	sum := h.op("Add", []string{sorted[n/2-1], sorted[n/2]})
	return h.op("Mul", []string{sum, h.scalar(h.tmp("half"), 0.5)})
}

// kthLargest selects the k-th largest of the tensors elementwise.
func (h *head) kthLargest(x []string, k int) string {
	return h.topSorted(x, k)[k-1]
}

// topSorted returns the k largest of the tensors, elementwise, in
// decreasing order: k bubble passes of compare-exchange (Max, Min).
func (h *head) topSorted(x []string, k int) []string {
	v := append([]string(nil), x...)
	n := len(v)
	for pass := 0; pass < k; pass++ {
		// Bubble the largest of v[pass:] into v[pass], from the back.
		for i := n - 1; i > pass; i-- {
			hi := h.op("Max", []string{v[i-1], v[i]})
			lo := h.op("Min", []string{v[i-1], v[i]})
			v[i-1], v[i] = hi, lo
		}
	}
	return v[:k]
}
