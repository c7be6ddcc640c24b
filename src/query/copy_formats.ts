/** The COPY text codecs live with the other file formats in src/storage/formats/. */
export * from "../storage/formats/text";
