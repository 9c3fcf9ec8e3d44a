package api

import (
	"net/http"
	"strings"
)

// errorCodeJSON is the spec's error reference entry ("Справочник ошибок").
type errorCodeJSON struct {
	Code       string `json:"code"`
	VendorCode string `json:"vendor_code"`
	Name       string `json:"name"`
	Note       string `json:"note"`
	Comment    string `json:"comment"`
	Severity   int    `json:"severity"`
}

// Severities of the reference: 1 notice, 2 operational problem, 3 fault.
const (
	sevNotice = 1
	sevWarn   = 2
	sevFault  = 3
)

// evaUnits names the second letter of an EVA-DTS event code (EVA-DTS 6.2
// Appendix C, research/dex.md §3.6): the unit the event is about.
var evaUnits = map[byte]string{
	'A': "Монетоприёмник", 'B': "Система стаканов", 'C': "Контроллер", 'D': "Горячие напитки",
	'E': "Заварочный блок", 'F': "Вода", 'G': "Корпус/дверь", 'J': "Охлаждение",
}

// evaKnown are the EVA-DTS codes the research notes name (§3.6).
var evaKnown = map[string]struct {
	name string
	sev  int
}{
	"EAR": {"Ошибка связи с монетоприёмником", sevFault},
	"EAU": {"Код ошибки MDB монетоприёмника", sevFault},
	"ECA": {"Электропитание", sevFault},
	"ECI": {"Датчик двери", sevWarn},
	"EGS": {"Дверь открыта", sevNotice},
	"EGT": {"Дверь закрыта", sevNotice},
	"EJH": {"Таймер санитарного контроля", sevWarn},
	"EJJ": {"Охлаждение", sevFault},
	"OBA": {"Неправильная загрузка", sevWarn},
}

// lookupErrorCode resolves a code of the reference. Two kinds are known:
// EVA-DTS event codes (E = equipment, O = operational; second letter the
// unit; 3-4 characters) and manufacturer error numbers reported as letters +
// digits ("D54": vendor code 54, named "Ошибка 54" as in the spec's example).
func lookupErrorCode(code string) (errorCodeJSON, bool) {
	if len(code) < 2 || len(code) > 16 {
		return errorCodeJSON{}, false
	}
	if vc, ok := vendorCode(code); ok {
		return errorCodeJSON{Code: code, VendorCode: vc, Name: "Ошибка " + vc,
			Note:     "Ошибка " + vc + " по классификации производителя автомата; описание - в руководстве по обслуживанию модели.",
			Severity: sevFault}, true
	}
	if (code[0] != 'E' && code[0] != 'O') || len(code) < 3 || len(code) > 4 {
		return errorCodeJSON{}, false
	}
	for i := 1; i < len(code); i++ {
		c := code[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return errorCodeJSON{}, false
		}
	}
	unit, ok := evaUnits[code[1]]
	if !ok {
		return errorCodeJSON{}, false
	}
	kind, sev := "Неисправность оборудования", sevFault
	if code[0] == 'O' {
		kind, sev = "Эксплуатационное событие", sevWarn
	}
	name := unit + ": " + kind
	if k, ok := evaKnown[code]; ok {
		name, sev = k.name, k.sev
	}
	return errorCodeJSON{Code: code, VendorCode: code, Name: name,
		Note: kind + " (EVA-DTS " + code + "), узел: " + unit + ".", Severity: sev}, true
}

// handleErrorCode is GET /v2/reports/errors/{code}.
func (s *server) handleErrorCode(w http.ResponseWriter, r *http.Request, sess *session) error {
	e, ok := lookupErrorCode(strings.ToUpper(r.PathValue("code")))
	if !ok {
		return errNotFound("Error code not found")
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}
