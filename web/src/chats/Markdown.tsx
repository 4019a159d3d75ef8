import ReactMarkdown from "react-markdown";
import rehypeSanitize from "rehype-sanitize";

type Node = { type: string; value?: string; children?: Node[] };

/** Raw HTML in an answer is shown as the text it is, never parsed into elements. */
function remarkHtmlAsText() {
  const visit = (node: Node) => {
    if (node.type === "html") node.type = "text";
    node.children?.forEach(visit);
  };
  return (tree: Node) => visit(tree);
}

/** An AI answer's Markdown: no raw HTML, sanitized output, unsafe URLs dropped. */
export default function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown
        remarkPlugins={[remarkHtmlAsText]}
        rehypePlugins={[rehypeSanitize]}
        components={{
          a: ({ href, children }) => (
            <a href={href} target="_blank" rel="noopener noreferrer nofollow">
              {children}
            </a>
          ),
        }}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
}
