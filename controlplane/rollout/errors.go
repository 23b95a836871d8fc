package rollout

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownGroup is wrapped by the errors of Status and Act for a group the controller
	// does not know (not configured).
	ErrUnknownGroup = errors.New("unknown group")
	// ErrNotApplicable is wrapped by Act's errors when the verb does not apply to the
	// rollout as it stands (pause a paused rollout, resume one in progress, act on a group
	// pinned by an operator, …). The error's text says why in a sentence.
	ErrNotApplicable = errors.New("the action does not apply to the rollout as it stands")
	// ErrNoRollout is wrapped by Act's errors when the verb needs a rollout in progress (or,
	// for resume, a paused or failed one) and the group has none. It wraps ErrNotApplicable.
	ErrNoRollout = fmt.Errorf("no rollout in progress: %w", ErrNotApplicable)
)

// sentence is an error whose text is a plain sentence for an operator, and which wraps a
// sentinel (ErrUnknownGroup, ErrNotApplicable, ErrNoRollout) for errors.Is.
type sentence struct {
	text string
	kind error
}

func (e *sentence) Error() string { return e.text }
func (e *sentence) Unwrap() error { return e.kind }

// says returns an error of kind that reads as the formatted sentence.
func says(kind error, format string, args ...any) error {
	return &sentence{text: fmt.Sprintf(format, args...), kind: kind}
}
