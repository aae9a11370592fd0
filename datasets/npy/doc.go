// Package npy reads and writes NumPy's .npy and .npz array files.
//
// It covers the dense numeric arrays that move between Python and advmatrix:
// images (float32, float64 or uint8), labels (int64, int32, uint8 or bool),
// gradients and logits. [Read] accepts format versions 1.0, 2.0 and 3.0,
// little- and big-endian data and Fortran-ordered arrays, which it returns in
// C (row-major) order. [Write] produces version 1.0 files (2.0 when the
// header does not fit) byte for byte as numpy.save does.
//
// Input is treated as untrusted: the header dictionary is parsed strictly,
// its length, the number of dimensions and the element count are bounded
// ([MaxHeaderLen], [MaxDims], [MaxElements]), and memory for the data is
// allocated only as the data actually arrives, unless the reader's remaining
// length is known in advance and has been checked.
//
// An .npz file is a zip archive with one NAME.npy entry per array;
// [ReadNPZ] reads stored and deflated entries, [WriteNPZ] writes deflated
// ones.
package npy
