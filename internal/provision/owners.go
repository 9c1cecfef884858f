package provision

import (
	"errors"
	"fmt"
	"strings"
)

// MaxOwnerLen bounds owner names.
const MaxOwnerLen = 64

// ErrInvalidOwner marks an owner name that is not valid; errors.Is holds
// for ErrInvalid too, so callers that only know the kinds still map it.
var ErrInvalidOwner = errors.New("invalid owner")

// ValidateOwner checks an owner name: it becomes the actor of the audit
// log and a label on the owner's namespaces, so it is printable ASCII from
// a short set, without spaces or control characters.
func ValidateOwner(owner string) error {
	ok := owner != "" && len(owner) <= MaxOwnerLen
	for _, c := range owner {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.@+", c)) {
			ok = false
			break
		}
	}
	if !ok {
		return &kindError{
			kind: errors.Join(ErrInvalid, ErrInvalidOwner),
			err:  fmt.Errorf("owner %q is invalid: use 1-%d letters, digits and - _ . @ +", owner, MaxOwnerLen),
		}
	}
	return nil
}
