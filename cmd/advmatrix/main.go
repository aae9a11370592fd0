// Command advmatrix measures how well adversarial examples transfer between
// image classifiers exported to ONNX, and how much defenses help.
//
// Exit codes: 0 done; 1 a gate failed; 2 usage or input error (bad file,
// bad model, unsupported op); 3 internal error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/spf13/cobra"
)

const (
	exitOK       = 0
	exitGate     = 1
	exitInput    = 2
	exitInternal = 3
)

// exitError carries an exit code other than the default for its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "advmatrix",
		Short: "Measure adversarial transferability between ONNX image classifiers",
		Long: `advmatrix loads image classifiers exported to ONNX, computes their logits and
gradients exactly, and measures how adversarial examples crafted on some models
fool others.

Images are float32 N×C×H×W in [0,1]; any normalisation belongs inside the model.
Data specs: mnist[:train|test], fashion-mnist[:split][@DIR], syndigits[:split],
cifar10:FILE.bin[,FILE.bin...], npy:X.npy[,Y.npy], npy:FILE.npz, folder:DIR.
Models: a path to an .onnx file, or zoo:NAME for an embedded model (zoo:lenet-mnist).

Exit codes: 0 done, 1 a gate failed, 2 usage or input error, 3 internal error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInspectCmd(), newEvalCmd(), newGradCmd(), newAttackCmd(), newVersionCmd())
	root.AddCommand(newTrainCmd(), newZooCmd(), newRunCmd(), newMergeResultsCmd(), newGateCmd(), newEnsembleCmd(), newReportCmd())
	root.AddCommand(newMergeCmd(), newPruneCmd())
	return root
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// signalError is the cause of a run cancelled by SIGINT or SIGTERM.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "interrupted by " + e.sig.String() }

// exitCode is the conventional 128 + signal number.
func (e *signalError) exitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// withSignals returns a context cancelled, with a *signalError cause, by
// the first SIGINT or SIGTERM; a second one kills the process as usual.
func withSignals() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			// Outputs being written are dropped; the run stops at its next
			// check of the context.
			atomicfile.CleanupTemps()
			cancel(&signalError{s})
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(sigs)
		cancel(nil)
	}
}

// run executes the CLI and maps failures to exit codes; a panic is an
// internal error, reported without a stack trace unless ADVMATRIX_DEBUG is set.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "advmatrix: internal error: %v\n", r)
			if os.Getenv("ADVMATRIX_DEBUG") != "" {
				fmt.Fprintf(stderr, "%s", debug.Stack())
			}
			code = exitInternal
		}
	}()
	ctx, stop := withSignals()
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var sig *signalError
		if errors.As(context.Cause(ctx), &sig) {
			if errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "advmatrix: %v: stopped, nothing was written\n", sig)
			} else {
				fmt.Fprintf(stderr, "advmatrix: %v: %v\n", sig, err)
			}
			return sig.exitCode()
		}
		fmt.Fprintf(stderr, "advmatrix: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if errors.Is(err, attacks.ErrInternal) {
			return exitInternal
		}
		return exitInput
	}
	return exitOK
}
