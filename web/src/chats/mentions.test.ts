import { describe, expect, it } from "vitest";
import { filterCandidates, insertMention, mentionAt, moveHighlight } from "./mentions";

describe("mentionAt", () => {
  it("finds a user mention at the caret", () => {
    expect(mentionAt("привет @iva", 11)).toEqual({ kind: "user", query: "iva", start: 7, end: 11 });
  });
  it("finds a role mention with @@", () => {
    expect(mentionAt("@@law вопрос", 5)).toEqual({ kind: "role", query: "law", start: 0, end: 5 });
  });
  it("takes the empty query right after @ or @@", () => {
    expect(mentionAt("hi @", 4)).toMatchObject({ kind: "user", query: "" });
    expect(mentionAt("hi @@", 5)).toMatchObject({ kind: "role", query: "" });
  });
  it("extends the token past the caret to the end of the name", () => {
    expect(mentionAt("@ivanov, hi", 3)).toEqual({ kind: "user", query: "iv", start: 0, end: 7 });
  });
  it("accepts Cyrillic, dots and dashes in names", () => {
    expect(mentionAt("к @пётр.и-в", 11)).toMatchObject({ query: "пётр.и-в" });
  });
  it("ignores e-mail addresses, code spans, triple @ and text without a mention", () => {
    expect(mentionAt("mail a@b", 8)).toBeNull();
    expect(mentionAt("`x @iva", 7)).toBeNull();
    expect(mentionAt("@@@iva", 6)).toBeNull();
    expect(mentionAt("just text", 4)).toBeNull();
    expect(mentionAt("@iva done", 9)).toBeNull();
  });
  it("counts a closed code span as closed", () => {
    expect(mentionAt("`code` @iva", 11)).toMatchObject({ query: "iva" });
  });
});

describe("filterCandidates", () => {
  const people = [
    { value: "petrov", label: "Пётр Петров" },
    { value: "ivanov", label: "Иван Иванов" },
    { value: "ivanova", label: "Анна Иванова" },
    { value: "sidorov", label: "Иван Сидоров" },
  ];
  it("puts prefix matches of the value first, then substrings of value or label", () => {
    expect(filterCandidates(people, "iv").map((c) => c.value)).toEqual(["ivanov", "ivanova"]);
    expect(filterCandidates(people, "иван").map((c) => c.value)).toEqual(["ivanov", "ivanova", "sidorov"]);
    expect(filterCandidates(people, "ov").map((c) => c.value)).toEqual(["ivanov", "ivanova", "petrov", "sidorov"]);
  });
  it("is case-insensitive, lists all for an empty query, and honours the limit", () => {
    expect(filterCandidates(people, "IVA").map((c) => c.value)).toEqual(["ivanov", "ivanova"]);
    expect(filterCandidates(people, "", 2)).toHaveLength(2);
    expect(filterCandidates(people, "zzz")).toEqual([]);
  });
});

describe("insertMention", () => {
  it("replaces the token with the mention and a space, caret after it", () => {
    const text = "привет @iv как дела";
    const token = mentionAt(text, 10)!;
    expect(insertMention(text, token, "ivanov")).toEqual({ text: "привет @ivanov как дела", caret: 15 });
  });
  it("adds a space at the end and inserts @@ for roles", () => {
    const token = mentionAt("@@la", 4)!;
    expect(insertMention("@@la", token, "lawyer")).toEqual({ text: "@@lawyer ", caret: 9 });
  });
  it("replaces the whole name when the caret is inside it", () => {
    const text = "@ivxx, привет";
    const token = mentionAt(text, 3)!;
    expect(insertMention(text, token, "ivanov").text).toBe("@ivanov , привет");
  });
});

describe("moveHighlight", () => {
  it("wraps around both ways", () => {
    expect(moveHighlight(0, 3, "ArrowDown")).toBe(1);
    expect(moveHighlight(2, 3, "ArrowDown")).toBe(0);
    expect(moveHighlight(0, 3, "ArrowUp")).toBe(2);
    expect(moveHighlight(0, 0, "ArrowUp")).toBe(0);
  });
});
