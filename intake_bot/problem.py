"""The catalogue of problems found while reading a message: stable codes, French and English wording."""

from __future__ import annotations

from typing import Any

from .model import Problem

ERROR, WARNING = "error", "warning"

# code -> (French for the ministry, English for logs, severity). Templates use str.format fields.
CATALOG: dict[str, tuple[str, str, str]] = {
    "message-too-large": ("message trop volumineux ({size} octets, limite {limit}) : son contenu n'a pas été lu",
                          "message too large ({size} bytes, limit {limit}): body not read", ERROR),
    "malformed-mime": ("message mal formé : {detail_fr}", "malformed MIME: {detail_en}", WARNING),
    "truncated-base64": ("pièce jointe tronquée (encodage base64 incomplet) : le fichier reçu est incomplet",
                         "truncated base64: the decoded file is incomplete", ERROR),
    "bad-charset": ("jeu de caractères « {charset} » inconnu ou incorrect : texte décodé au mieux",
                    "unknown or wrong charset {charset!r}: text decoded on a best-effort basis", WARNING),
    "too-many-attachments": ("trop de pièces jointes ({count}) : seules les {limit} premières ont été lues",
                             "too many attachments ({count}): only the first {limit} were read", ERROR),
    "encrypted-message": ("message chiffré ({kind}) : impossible de le lire",
                          "encrypted message ({kind}): cannot be read", ERROR),
    "encrypted": ("fichier chiffré (protégé par mot de passe) : impossible de le lire",
                  "encrypted file (password protected): cannot be read", ERROR),
    "scanned": ("document scanné, sans texte : son contenu n'a pas pu être lu",
                "scanned document without a text layer: content not read", ERROR),
    "ocr": ("document scanné, sans texte : texte obtenu par reconnaissance de caractères, à vérifier",
            "scanned document: text obtained by OCR, to be checked", WARNING),
    "format-not-read": ("format non lu ({kind}) : merci d'envoyer ce document en PDF, DOCX, XLSX ou ODT",
                        "format not read ({kind})", ERROR),
    "empty-file": ("fichier vide", "empty file", ERROR),
    "unreadable": ("fichier illisible ou endommagé ({kind}) : merci de le renvoyer",
                   "unreadable or damaged file ({kind}): {detail}", ERROR),
    "too-many-pages": ("document trop long ({pages} pages, limite {limit}) : son contenu n'a pas été lu",
                       "too many pages ({pages}, limit {limit}): content not read", ERROR),
    "too-complex": ("document trop volumineux ou trop complexe pour être lu en sécurité : merci de le simplifier",
                    "document exceeds a parser safety limit: {detail}", ERROR),
    "pages-unreadable": ("{count} page(s) illisible(s) : le reste du document a été lu",
                         "{count} unreadable page(s), the rest was read", WARNING),
    "text-truncated": ("texte très long : seuls les {limit} premiers caractères ont été lus",
                       "text cut after {limit} characters", WARNING),
    "timeout": ("extraction interrompue : délai dépassé ({seconds} s)",
                "extraction stopped: time limit exceeded ({seconds} s)", ERROR),
    "memory": ("extraction interrompue : mémoire dépassée ({limit} Mo)",
               "extraction stopped: memory limit exceeded ({limit} MB)", ERROR),
    "extraction-failed": ("extraction interrompue : le lecteur de documents s'est arrêté",
                          "extraction stopped: the worker died ({detail})", ERROR),
    "zip-bomb": ("archive suspecte (taux de compression {ratio}:1, limite {limit}:1) : non décompressée",
                 "suspicious archive member (compression ratio {ratio}:1, limit {limit}:1): not expanded", ERROR),
    "archive-too-large": ("archive trop volumineuse une fois décompressée (limite {limit} octets)",
                          "archive too large once expanded (limit {limit} bytes)", ERROR),
    "archive-too-deep": ("archives ou messages imbriqués trop profondément (limite {limit} niveaux) : non lus",
                         "containers nested too deeply (limit {limit} levels): not read", ERROR),
    "archive-unreadable": ("archive illisible ou endommagée : merci de la renvoyer",
                           "unreadable archive: {detail}", ERROR),
    "tnef-unreadable": ("pièce Outlook winmail.dat illisible : merci de renvoyer les documents sans format RTF",
                        "unreadable TNEF (winmail.dat): {detail}", ERROR),
    "tnef-rtf-body": ("corps du message Outlook au format RTF : texte non lu",
                      "Outlook RTF body inside TNEF not read", WARNING),
}

# Structural defects of a MIME tree (mimepart), reported as "malformed-mime".
DEFECTS: dict[str, tuple[str, str]] = {
    "no-separator": ("ligne vide manquante entre les en-têtes et le corps", "no blank line between headers and body"),
    "header-too-large": ("en-têtes démesurés", "header block too large"),
    "no-boundary": ("partie multiple sans délimiteur", "multipart without a boundary"),
    "boundary-not-found": ("délimiteur de parties introuvable", "boundary never found in the body"),
    "no-closing-boundary": ("délimiteur de fin absent (message tronqué ?)", "closing boundary missing (truncated?)"),
    "too-many-parts": ("trop de parties MIME : la fin du message n'a pas été lue", "too many MIME parts: rest not read"),
}


def defect(code: str, filename: str | None = None) -> Problem:
    """A 'malformed-mime' Problem for one structural defect code of mimepart."""
    fr, en = DEFECTS.get(code, (code, code))
    return problem("malformed-mime", filename, detail_fr=fr, detail_en=en)


def problem(code: str, filename: str | None = None, **fields: Any) -> Problem:
    """The Problem for `code`, its sentences filled with `fields` (missing fields are shown as '?')."""
    fr, en, severity = CATALOG[code]
    values = _Defaulting(fields)
    return Problem(code, fr.format_map(values), en.format_map(values), filename, severity)


class _Defaulting(dict):  # type: ignore[type-arg]
    """format_map mapping that never raises on a missing field: a wording bug must not lose a message."""

    def __missing__(self, key: str) -> str:
        return "?"
