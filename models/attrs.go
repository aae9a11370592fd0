package models

import (
	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
)

func (c *buildCtx) attr(name string) *pb.AttributeProto { return c.attrs[name] }

func (c *buildCtx) attrInt(name string, def int) (int, error) {
	a := c.attrs[name]
	if a == nil {
		return def, nil
	}
	if a.GetType() != pb.AttributeProto_INT {
		return 0, c.errorf("attribute %s must be an int", name)
	}
	return int(a.GetI()), nil
}

func (c *buildCtx) attrFloat(name string, def float64) (float64, error) {
	a := c.attrs[name]
	if a == nil {
		return def, nil
	}
	if a.GetType() != pb.AttributeProto_FLOAT {
		return 0, c.errorf("attribute %s must be a float", name)
	}
	return float64(a.GetF()), nil
}

func (c *buildCtx) attrInts(name string) ([]int, bool, error) {
	a := c.attrs[name]
	if a == nil {
		return nil, false, nil
	}
	if a.GetType() != pb.AttributeProto_INTS {
		return nil, false, c.errorf("attribute %s must be a list of ints", name)
	}
	out := make([]int, len(a.GetInts()))
	for i, v := range a.GetInts() {
		out[i] = int(v)
	}
	return out, true, nil
}

func (c *buildCtx) attrString(name, def string) (string, error) {
	a := c.attrs[name]
	if a == nil {
		return def, nil
	}
	if a.GetType() != pb.AttributeProto_STRING {
		return "", c.errorf("attribute %s must be a string", name)
	}
	return string(a.GetS()), nil
}

// normAxis maps a possibly negative axis into [0, rank).
func (c *buildCtx) normAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, c.errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}
