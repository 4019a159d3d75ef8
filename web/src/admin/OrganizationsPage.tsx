export default function OrganizationsPage() {
  return <div className="page" />;
}
