package testutil

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// UnmarshalCLI decodes the `-o json` output of a fleetgate verb into m, the admin API message
// it prints. The CLI writes JSON for scripts (cmd/fleetgate/output.go): enum values as short
// lower-case words, resource bodies as JSON values, hashes in hex, durations as Go durations.
// UnmarshalCLI turns those back into protojson's forms, walking m's descriptor, so tests can
// read the CLI's answers as typed messages.
func UnmarshalCLI(data []byte, m proto.Message) error {
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	conv, err := toProtoJSON(m.ProtoReflect().Descriptor(), raw)
	if err != nil {
		return err
	}
	b, err := json.Marshal(conv)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

func toProtoJSON(md protoreflect.MessageDescriptor, raw json.RawMessage) (any, error) {
	switch md.FullName() {
	case "google.protobuf.Duration":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("%gs", d.Seconds()), nil
	}
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return raw, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", md.FullName(), err)
	}
	out := map[string]any{}
	for k, v := range obj {
		fd := md.Fields().ByName(protoreflect.Name(k))
		if fd == nil {
			continue
		}
		c, err := fieldToProtoJSON(fd, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = c
	}
	return out, nil
}

func fieldToProtoJSON(fd protoreflect.FieldDescriptor, raw json.RawMessage) (any, error) {
	switch {
	case fd.IsList():
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			c, err := valueToProtoJSON(fd, it)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case fd.IsMap():
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		out := map[string]any{}
		for k, v := range m {
			c, err := valueToProtoJSON(fd.MapValue(), v)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return valueToProtoJSON(fd, raw)
}

func valueToProtoJSON(fd protoreflect.FieldDescriptor, raw json.RawMessage) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return toProtoJSON(fd.Message(), raw)
	case protoreflect.EnumKind:
		var word string
		if json.Unmarshal(raw, &word) != nil {
			return raw, nil // a number
		}
		return upperSnake(string(fd.Enum().Name())) + "_" + strings.ToUpper(word), nil
	case protoreflect.BytesKind:
		var b []byte
		var s string
		if json.Unmarshal(raw, &s) == nil {
			h, err := hex.DecodeString(s)
			if err != nil {
				return nil, err
			}
			b = h
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, err
			}
			b = buf.Bytes()
		}
		return base64.StdEncoding.EncodeToString(b), nil
	case protoreflect.StringKind:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, nil
		}
		var buf bytes.Buffer // a *_json field written as its JSON value
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		return buf.String(), nil
	}
	return raw, nil
}

// upperSnake turns a CamelCase name into UPPER_SNAKE ("RolloutPhase" → "ROLLOUT_PHASE"), as
// the CLI strips it from enum value names.
func upperSnake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
			(i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
