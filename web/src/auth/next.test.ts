import { describe, expect, it } from "vitest";
import { safeNext } from "./next";

describe("safeNext", () => {
  it("returns to the remembered page of this site", () => {
    expect(safeNext("/calendar/events/42?x=1")).toBe("/calendar/events/42?x=1");
  });
  it("refuses other sites, login itself and nothing", () => {
    for (const bad of [null, "", "https://evil.example/", "//evil.example", "/\\evil.example", "/login?next=/x", "chats"]) {
      expect(safeNext(bad)).toBe("/chats");
    }
  });
});
