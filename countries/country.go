package countries

// Country is one row of the canonical SMS-Activate country table.
type Country struct {
	// ID is the canonical SMS-Activate country ID (Russia 0, USA 187,
	// USA virtual 12, Turkey 62).
	ID int
	// ISO is the ISO 3166-1 alpha-2 code in upper case. Several IDs may share
	// one ISO code (US: 12 and 187).
	ISO string
	// Eng, Rus and Chn are the English, Russian and Chinese names as the
	// original service sent them in getCountries; any may be empty.
	Eng, Rus, Chn string
	// Slug is the canonical lower-case hyphenated slug ("south-africa").
	Slug string
	// Aliases are other slugs that name this country.
	Aliases []string
	// Visible, Retry, Rent and MultiService are the original getCountries
	// flags. A table file may set them; the built-in table has Visible and
	// Retry true, Rent and MultiService false.
	Visible, Retry, Rent, MultiService bool
}
