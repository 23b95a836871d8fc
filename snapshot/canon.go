package snapshot

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// canonical writes v as RFC 8785 JSON directly from the parsed tree, so a build does not
// marshal and re-parse every body. The output equals jcs.Transform of the same JSON (tested).
//
// If id is not empty, the top-level "id" member is set to it (added or replaced); if dropID
// is set, a top-level "id" member is left out.
func canonical(buf []byte, v *value, id string, dropID bool) []byte {
	if v.kind != vObj {
		return appendValue(buf, v)
	}
	ms := make([]member, 0, len(v.obj)+1)
	for _, m := range v.obj {
		if m.key == "id" && (id != "" || dropID) {
			continue
		}
		ms = append(ms, m)
	}
	if id != "" {
		ms = append(ms, member{key: "id", val: &value{kind: vStr, str: id}})
	}
	return appendMembers(buf, ms)
}

func appendValue(buf []byte, v *value) []byte {
	switch v.kind {
	case vNull:
		return append(buf, "null"...)
	case vBool:
		if v.b {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	case vNum:
		return appendNumber(buf, v.num)
	case vStr:
		return appendString(buf, v.str)
	case vArr:
		buf = append(buf, '[')
		for i, e := range v.arr {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendValue(buf, e)
		}
		return append(buf, ']')
	case vObj:
		ms := v.obj
		if !membersSorted(ms) {
			ms = slices.Clone(ms)
		}
		return appendMembers(buf, ms)
	}
	return buf
}

func appendMembers(buf []byte, ms []member) []byte {
	if !membersSorted(ms) {
		if len(ms) <= 16 {
			for i := 1; i < len(ms); i++ {
				for j := i; j > 0 && compareKeys(ms[j-1].key, ms[j].key) > 0; j-- {
					ms[j], ms[j-1] = ms[j-1], ms[j]
				}
			}
		} else {
			slices.SortFunc(ms, func(a, b member) int { return compareKeys(a.key, b.key) })
		}
	}
	buf = append(buf, '{')
	for i := range ms {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, ms[i].key)
		buf = append(buf, ':')
		buf = appendValue(buf, ms[i].val)
	}
	return append(buf, '}')
}

func membersSorted(ms []member) bool {
	for i := 1; i < len(ms); i++ {
		if compareKeys(ms[i-1].key, ms[i].key) > 0 {
			return false
		}
	}
	return true
}

// compareKeys orders keys by their UTF-16 code units, as RFC 8785 requires. For ASCII (the
// usual case) that is byte order.
func compareKeys(a, b string) int {
	ascii := true
	for i := 0; i < len(a); i++ {
		if a[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for i := 0; ascii && i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	return slices.Compare(ua, ub)
}

// appendNumber writes f in ECMAScript number form (RFC 8785 §3.2.2.3).
func appendNumber(buf []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		if f == 0 {
			return append(buf, '0') // also -0
		}
		if math.Abs(f) < 1<<53 {
			return strconv.AppendInt(buf, int64(f), 10)
		}
	}
	s, err := jcs.NumberToJSON(f)
	if err != nil { // NaN and Inf never reach here: the parser rejects them
		return append(buf, "null"...)
	}
	return append(buf, s...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as an RFC 8785 JSON string: only '"', '\\' and control characters
// are escaped, the short forms where JSON has them.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"':
			buf = append(buf, '\\', '"')
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
