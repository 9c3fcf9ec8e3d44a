// Package cp1251 converts between UTF-8 and Windows-1251, the code page
// Russian-market vending machines use for text in EVA-DTS audits (product
// names, MA5 values). EVA-DTS itself specifies 7-bit ASCII (EVA-DTS 6.2
// §4.4); Windows-1251 text is a vendor practice the REST API has to render.
//
// Layer: utility below the API. It is the only package importing
// golang.org/x/text (charmap.Windows1251).
package cp1251
