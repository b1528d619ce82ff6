package demonode

import (
	"errors"
	"io"
	"strings"

	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Core's what() texts for data its SpanReader cannot deserialize (a
// std::ios_base::failure, whose what() libstdc++ ends in ": iostream
// error").
const (
	whatEndOfData       = "SpanReader::read(): end of data: iostream error"
	whatNonCanonicalLen = "non-canonical ReadCompactSize(): iostream error"
)

// errEndOfData is what Core throws for empty or truncated block or
// transaction data.
func errEndOfData() error { return exception.Std(whatEndOfData) }

// CoreErrors is the demo node's rt.WithServerErrors hook: a parameter the
// generated code cannot decode fails as Bitcoin Core's deserialization
// does, with Core's std::exception text (truncated or empty data:
// "SpanReader::read(): end of data: iostream error"; a non-canonical
// length: "non-canonical ReadCompactSize(): iostream error"). Other errors
// pass unchanged. ListenAndServe and ServeSpawned install it; pass
// rt.WithServerErrors(demonode.CoreErrors) when serving Bootstrap
// elsewhere.
func CoreErrors(_ *rt.Method, err error) error {
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errEndOfData()
	}
	var me *wire.MessageError
	if errors.As(err, &me) && strings.Contains(me.Description, "non-canonical varint") {
		return exception.Std(whatNonCanonicalLen)
	}
	return err
}
