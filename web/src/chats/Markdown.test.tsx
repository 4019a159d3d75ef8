import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import Markdown from "./Markdown";

const render = (text: string) => renderToStaticMarkup(<Markdown text={text} />);

describe("Markdown of AI answers", () => {
  it("renders raw HTML as visible text, never as elements", () => {
    const html = render('До <img src=x onerror="alert(1)"> после <script>alert(2)</script>');
    expect(html).not.toMatch(/<img|<script/i);
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(html).toContain("&lt;script&gt;");
  });

  it("drops javascript: and data: links but keeps https links, opened safely", () => {
    const html = render("[a](javascript:alert(1)) [b](data:text/html,<b>x</b>) [c](https://example.com/x)");
    expect(html).not.toMatch(/javascript:|data:text/i);
    expect(html).toContain('href="https://example.com/x"');
    expect(html).toContain('rel="noopener noreferrer nofollow"');
  });

  it("renders ordinary Markdown", () => {
    const html = render("## Ответ\n\n**ГК РФ**\n\n1. раз\n2. два");
    expect(html).toContain("<h2>Ответ</h2>");
    expect(html).toContain("<strong>ГК РФ</strong>");
    expect(html).toContain("<ol>");
  });
});
