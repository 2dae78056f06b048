package validate

// Quick checks for the formats event schemas use most, on the forms
// partners send: each answers only "certainly valid", a strict subset of
// what the library's checker accepts (FuzzQuickFormats), and anything
// else goes to that checker. The library's email check runs net/mail's
// parser and its date checks time.Parse, together a tenth of validating
// an event.
var quickFormats = map[string]func([]byte) bool{
	"date":      quickDate,
	"date-time": quickDateTime,
	"email":     quickEmail,
}

// quickDate: YYYY-MM-DD, a real day of the Gregorian calendar.
func quickDate(s []byte) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	y, ok1 := num(s[0:4])
	m, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// quickDateTime: a quickDate, T, hh:mm:ss, optional fraction, Z; no leap
// second, no numeric offset (the library decides those).
func quickDateTime(s []byte) bool {
	if len(s) < 20 || s[10] != 'T' || !quickDate(s[:10]) {
		return false
	}
	t := s[11:]
	if t[2] != ':' || t[5] != ':' {
		return false
	}
	h, ok1 := num(t[0:2])
	m, ok2 := num(t[3:5])
	sec, ok3 := num(t[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return false
	}
	t = t[8:]
	if t[0] == '.' {
		n := 1
		for n < len(t) && t[n] >= '0' && t[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		t = t[n:]
	}
	return len(t) == 1 && t[0] == 'Z'
}

// quickEmail: a dot-atom of letters, digits and ._%+- (no dot first,
// last or twice), @, and two or more hostname labels of letters, digits
// and inner hyphens, the last of letters only.
func quickEmail(s []byte) bool {
	at := -1
	for i, c := range s {
		if c == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at < 1 || at > 64 || len(s) > 254 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' {
		return false
	}
	for i, c := range local {
		if !(isAlnumASCII(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-') || (c == '.' && local[i-1] == '.') {
			return false
		}
	}
	labels, start := 0, 0
	for i := 0; i <= len(domain); i++ {
		if i < len(domain) && domain[i] != '.' {
			if c := domain[i]; !isAlnumASCII(c) && c != '-' {
				return false
			}
			continue
		}
		label := domain[start:i]
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		labels++
		start = i + 1
	}
	return labels >= 2 && lettersOnly(lastLabel(domain))
}

func lastLabel(domain []byte) []byte {
	for i := len(domain) - 1; i >= 0; i-- {
		if domain[i] == '.' {
			return domain[i+1:]
		}
	}
	return domain
}

func lettersOnly(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return len(b) > 0
}

func isAlnumASCII(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// num reads plain decimal digits.
func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}
