import { describe, expect, it } from "vitest";
import { markdownPreview } from "./preview";

describe("markdownPreview", () => {
  it("drops the marks of an AI answer and keeps its words on one line", () => {
    const answer = "**Короткий ответ:** да.\n\n## Основание\n- ст. 115 *ТК РФ*\n1. [Закон](https://example.com) `№ 14-ФЗ`";
    expect(markdownPreview(answer)).toBe("Короткий ответ: да. Основание ст. 115 ТК РФ Закон № 14-ФЗ");
  });

  it("leaves plain text and lone symbols alone", () => {
    expect(markdownPreview("2 * 3 = 6, ставка 13%")).toBe("2 * 3 = 6, ставка 13%");
    expect(markdownPreview("snake_case_name")).toBe("snake_case_name");
  });
});
