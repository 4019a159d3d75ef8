export default function NotificationsPage() {
  return <div className="page" />;
}
