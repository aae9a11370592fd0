//go:build unix

package safeio

import "syscall"

// O_NOCTTY keeps a terminal named by mistake from becoming the process's
// controlling terminal should it be opened after all.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
