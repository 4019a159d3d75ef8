export default function CalendarPage() {
  return <div className="page" />;
}
