//go:build !amd64 || purego

package gemm

func init() {
	usableKernels = []kernelSet{{goKernel32, goKernel64}}
	kernel32, kernel64 = goKernel32, goKernel64
}
