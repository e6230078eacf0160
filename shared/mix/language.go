package mix

import "strings"

// iso639 maps ISO 639-1 codes to the ISO 639-2/T codes that MP4 stores, for
// the languages speech engines handle (and "jw", which Whisper uses for
// Javanese). Each entry is " xx:yyy".
const iso639 = " af:afr am:amh ar:ara as:asm az:aze ba:bak be:bel bg:bul bn:ben bo:bod br:bre bs:bos" +
	" ca:cat cs:ces cy:cym da:dan de:deu el:ell en:eng eo:epo es:spa et:est eu:eus fa:fas fi:fin fo:fao" +
	" fr:fra fy:fry ga:gle gd:gla gl:glg gu:guj ha:hau he:heb hi:hin hr:hrv ht:hat hu:hun hy:hye id:ind" +
	" ig:ibo is:isl it:ita iw:heb ja:jpn jv:jav jw:jav ka:kat kk:kaz km:khm kn:kan ko:kor ku:kur ky:kir" +
	" la:lat lb:ltz ln:lin lo:lao lt:lit lv:lav mg:mlg mi:mri mk:mkd ml:mal mn:mon mr:mar ms:msa mt:mlt" +
	" my:mya nb:nob ne:nep nl:nld nn:nno no:nor ny:nya oc:oci om:orm pa:pan pl:pol ps:pus pt:por ro:ron" +
	" ru:rus rw:kin sa:san sd:snd si:sin sk:slk sl:slv sn:sna so:som sq:sqi sr:srp st:sot su:sun sv:swe" +
	" sw:swa ta:tam te:tel tg:tgk th:tha ti:tir tk:tuk tl:tgl tn:tsn tr:tur tt:tat ug:uig uk:ukr ur:urd" +
	" uz:uzb vi:vie wo:wol xh:xho yi:yid yo:yor zh:zho zu:zul "

// trackLanguage turns a language code ("en", "pt-BR", "eng", "zh_Hans") into
// the three-letter code an MP4 track carries, or "und" when it is unknown.
// FFmpeg 5.1 silently drops any language tag that is not three letters, so
// "en" must become "eng" here.
func trackLanguage(code string) string {
	primary, _, _ := strings.Cut(strings.ReplaceAll(code, "_", "-"), "-")
	primary = strings.ToLower(strings.TrimSpace(primary))
	for _, r := range primary {
		if r < 'a' || r > 'z' {
			return "und"
		}
	}
	switch len(primary) {
	case 3:
		return primary
	case 2:
		if i := strings.Index(iso639, " "+primary+":"); i >= 0 {
			return iso639[i+4 : i+7]
		}
	}
	return "und"
}
