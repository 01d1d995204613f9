package config

import (
	"net/mail"
	"strings"
)

// validRecipientRule reports whether r is an e-mail address or @domain.
func validRecipientRule(r string) bool {
	if d, ok := strings.CutPrefix(r, "@"); ok {
		return d != "" && !strings.ContainsAny(d, "@ /:") && strings.Contains(d, ".")
	}
	a, err := mail.ParseAddress(r)
	return err == nil && a.Address == r
}

// RecipientsSet reports whether notifications.allowed_recipients is set.
func (n Notifications) RecipientsSet() bool { return len(n.AllowedRecipients) > 0 }

// RecipientAllowed reports whether notifications.allowed_recipients lets
// e-mail go to addr: the address itself is listed, or its domain as
// "@domain" (not its subdomains). Case is ignored.
func (n Notifications) RecipientAllowed(addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	for _, r := range n.AllowedRecipients {
		r = strings.ToLower(r)
		if r == addr || (strings.HasPrefix(r, "@") && r == addr[at:]) {
			return true
		}
	}
	return false
}
