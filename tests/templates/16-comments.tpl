a{{/* one */}}b{{- /* two */}} c {{/* three */ -}} d
{{/*
multi
line
*/}}e
