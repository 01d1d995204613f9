package normalize

// ModelAlias returns a model name without a dated snapshot suffix, so that
// one model reported as its alias by one library and as the dated snapshot
// that answered by another (gpt-4o-mini and gpt-4o-mini-2024-07-18) is one
// model in metrics and search. The suffixes folded are a date written
// -YYYY-MM-DD (OpenAI: gpt-4o-2024-08-06), -YYYYMMDD or @YYYYMMDD
// (Anthropic, Vertex AI: claude-3-5-sonnet-20241022), and OpenAI's older
// -MMDD (gpt-3.5-turbo-0125, gpt-4-0613). Anything else, including
// version suffixes such as -001 or -latest, is kept as it is.
func ModelAlias(name string) string {
	n := len(name)
	switch {
	case n > 11 && name[n-11] == '-' && isDigits(name[n-10:n-6]) && name[n-6] == '-' &&
		isDigits(name[n-5:n-3]) && name[n-3] == '-' && isDigits(name[n-2:]) &&
		validMonthDay(name[n-5:n-3], name[n-2:]):
		return name[:n-11]
	case n > 9 && (name[n-9] == '-' || name[n-9] == '@') && name[n-8:n-6] == "20" && isDigits(name[n-8:]) &&
		validMonthDay(name[n-4:n-2], name[n-2:]):
		return name[:n-9]
	case n > 5 && name[n-5] == '-' && isDigits(name[n-4:]) && validMonthDay(name[n-4:n-2], name[n-2:]):
		return name[:n-5]
	}
	return name
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validMonthDay reports whether two two-digit strings are a month (01-12)
// and a day (01-31).
func validMonthDay(month, day string) bool {
	m := int(month[0]-'0')*10 + int(month[1]-'0')
	d := int(day[0]-'0')*10 + int(day[1]-'0')
	return m >= 1 && m <= 12 && d >= 1 && d <= 31
}
