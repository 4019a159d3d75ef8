export default function DocumentsPage() {
  return <div className="page" />;
}
