package models

import (
	"fmt"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// SoftmaxRegression builds a multinomial logistic regression, logits =
// W·flatten(x) + b, as an ONNX model (opset 13, symbolic batch axis): the
// shallow softmax classifier of Goodfellow et al.'s FGSM experiments. w is
// classes × (C·H·W), row-major.
func SoftmaxRegression(inShape []int, classes int, w, b []float32) (*Model, error) {
	d := 1
	for _, s := range inShape {
		d *= s
	}
	if len(w) != classes*d || len(b) != classes {
		return nil, fmt.Errorf("softmax regression %v→%d needs %d weights and %d biases, got %d and %d", inShape, classes, classes*d, classes, len(w), len(b))
	}
	dims := []*pb.TensorShapeProto_Dimension{{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}
	for _, s := range inShape {
		dims = append(dims, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(s)}})
	}
	vi := func(name string, dims []*pb.TensorShapeProto_Dimension) *pb.ValueInfoProto {
		return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
			TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(dtFloat), Shape: &pb.TensorShapeProto{Dim: dims}}}}}
	}
	outDims := []*pb.TensorShapeProto_Dimension{dims[0], {Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(classes)}}}
	g := &pb.GraphProto{
		Name:   proto.String("softmax_regression"),
		Input:  []*pb.ValueInfoProto{vi("x", dims)},
		Output: []*pb.ValueInfoProto{vi("logits", outDims)},
		Initializer: []*pb.TensorProto{
			{Name: proto.String("W"), Dims: []int64{int64(classes), int64(d)}, DataType: proto.Int32(dtFloat), RawData: float32sLE(w)},
			{Name: proto.String("b"), Dims: []int64{int64(classes)}, DataType: proto.Int32(dtFloat), RawData: float32sLE(b)},
		},
		Node: []*pb.NodeProto{
			{Name: proto.String("flatten"), OpType: proto.String("Flatten"), Input: []string{"x"}, Output: []string{"flat"}},
			{Name: proto.String("linear"), OpType: proto.String("Gemm"), Input: []string{"flat", "W", "b"}, Output: []string{"logits"},
				Attribute: []*pb.AttributeProto{{Name: proto.String("transB"), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(1)}}},
		},
	}
	m := &pb.ModelProto{IrVersion: proto.Int64(8), ProducerName: proto.String("advmatrix"), Graph: g,
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return Load(data)
}
