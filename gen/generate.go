// Package gen holds the Go packages generated from schemas/: capnpc-go's
// wire packages (gen/<set>/<set>capnp, gen/mp) and capnpc-go-ipc's domain
// packages (gen/<set>). Regenerate with `go generate ./gen/` (needs the
// capnp compiler), which runs internal/cmd/generate, the one writer of
// every generated file in the module; its test fails when the result
// differs from what is committed.
package gen

//go:generate go run ../internal/cmd/generate
