// Package onnxgraph writes ONNX graphs: a Builder that assembles a model
// from inputs, initializers and nodes, deterministically (the same calls
// give the same bytes), for the reference architectures, the aggregation
// heads of ensembles and defenses, and tests. The result is an ordinary
// ONNX file that any runtime loads; models.Load compiles it.
package onnxgraph
